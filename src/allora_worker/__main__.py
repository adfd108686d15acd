from allora_worker.cli import main

main()
