"""Log lines and /healthz during a 106 s chain outage with one endpoint (issue #15 saw 92 WARNING lines).

    .venv/bin/python bench/outage_log_lines.py > bench/results/outage-log-lines-RUN.txt

A devnet with 1 s blocks, 30 s epochs and 25 s windows; the real daemon; every gRPC call fails for
106 s right after the first window is accepted on chain. Prints the counts as JSON, then the
WARNING/ERROR lines. About 3 minutes.
"""
import json
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from allora_worker.devnet import DevnetThread, TopicConfig
from harness.daemon import DaemonProcess, devnet_config, quick_bundle, wait_until, write_worker_config

# The public "abandon x23 art" test vector: a throwaway devnet key, never a real one.
TEST_MNEMONIC = " ".join(["abandon"] * 23 + ["art"])
TEST_ADDRESS = "allo1r5v5srda7xfth3hn2s26txvrcrntldju4cacqx"

root = Path(tempfile.mkdtemp(prefix="outage-"))
key = root / "key"
key.write_text(TEST_MNEMONIC + "\n")
key.chmod(0o600)
bundle = quick_bundle(root / "bundle")
BLOCK, EPOCH, WINDOW = 1.0, 30, 25   # 30 s epochs: ~3.5 windows in 106 s
topic = TopicConfig(id=67, metadata="t", epoch_length=EPOCH, worker_submission_window=WINDOW)
with DevnetThread(devnet_config(TEST_ADDRESS, [topic], block_time=BLOCK)) as dn:
    cfg = write_worker_config(root / "w.toml", grpc_url=dn.grpc_url, state_dir=root / "s", bundle=bundle,
                              epoch_seconds=EPOCH * BLOCK)
    d = DaemonProcess(cfg, mnemonic_file=key, output=root / "o.log")
    url = d.health_url(120)
    wait_until(lambda: any(i.worker == TEST_ADDRESS for i in dn.accepted_inferences(67)), 200, "first accept")
    before = len(d.text().splitlines())
    t0 = time.monotonic()
    dn.faults.unavailable_for(106)
    first503 = None
    while time.monotonic() - t0 < 106:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=5):
                code = 200
        except urllib.error.HTTPError as e:
            code = e.code
        if code == 503 and first503 is None:
            first503 = time.monotonic() - t0
        time.sleep(1)
    time.sleep(40)
    lines = d.text().splitlines()[before:]
    d.stop()
warn = [line for line in lines if " WARNING " in line]
err = [line for line in lines if " ERROR " in line]
print(json.dumps({"outage_s": 106, "window_s": WINDOW * BLOCK, "epoch_s": EPOCH * BLOCK,
                  "first_503_after_s": first503, "lines_total_outage_plus_40s": len(lines),
                  "warning_lines": len(warn), "error_lines": len(err)}, indent=1))
for line in warn + err:
    print(line[:220])
