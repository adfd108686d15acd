"""The commented starting configuration `allora-worker config example` prints.

Kept valid by tests/cli/test_config_reference.py: its output passes `config check` (with a wallet,
a Tiingo key and the bundle it names in place).
"""

EXAMPLE_TOML = """\
# allora-worker configuration: a starting point. Every key is in docs/CONFIGURATION.md.
# Precedence: command-line flags > environment (ALLORA_WORKER_*) > .env > this file.
# Secrets never go here: the mnemonic lives in a file of mode 0600 named by MNEMONIC_FILE,
# the Tiingo key in TIINGO_API_KEY (environment or .env). A mnemonic in this file is refused.
# Relative paths are relative to this file's directory.
# Check it with: allora-worker --config allora-worker.toml config check

network = "testnet"               # testnet | mainnet | devnet | custom
# grpc_endpoints = ["grpc+https://a.example:443", "grpc+https://b.example:443"]  # failover, in order
state_dir = "~/.allora-worker"    # journal, candle cache, heartbeat.json, logs/
# until = "2030-01-01T00:00:00Z"  # stop cleanly (exit 0) at this time; unset: run until stopped
heartbeat_seconds = 3600          # how often the HEARTBEAT log line is written

[[topics]]
id = 67                           # 7-day BTC/USD log-return; its timing is read from the chain
bundle = "models/topic67"         # make it with: allora-worker train --topic 67 --out models/topic67
sources = ["tiingo", "binance"]   # primary, then the cross-check and fallback
schedule = "nonce"                # submit to every open worker window ("interval": hourly)
max_data_age_hours = 2.0          # skip the window rather than predict from older candles

[fees]
tier = "standard"                 # low | standard | priority
max_fee_uallo = 2000000000000000  # hard cap per transaction

[log]
level = "INFO"                    # DEBUG | INFO | WARNING | ERROR
json_lines = false                # true: JSON lines for a log shipper
ascii = false                     # true: no emoji in the markers (plain ASCII consoles)

[health]
host = "127.0.0.1"                # loopback only
port = 8000                       # /healthz, /readyz, /metrics
"""
