"""Malformed candle CSVs and config files, fed to every command that reads them: exit 2 and a message, no traceback.

The cases are built, not drawn at random at each run: each is malformed on purpose (a reader
must refuse it), and a seeded generator adds bytes at many positions. Commands run in-process
(typer's CliRunner) to stay fast; a few run as real processes, as a user would.
"""

from __future__ import annotations

import gzip
import random
import subprocess
from pathlib import Path

import pytest

from harness.daemon import BINARY
from tests.cli.conftest import VALID_TOML, assert_clean_failure, invoke

HEADER = "unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT"


def _row(i: int, o: str = "100", h: str = "101", low: str = "99", c: str = "100.5", v: str = "1",
         date: str | None = None, unix: str | None = None) -> str:
    unix = unix if unix is not None else str(1577836800 + 3600 * i)
    date = date if date is not None else f"2020-01-01 {i:02d}:00:00"
    return f"{unix},{date},BTCUSDT,{o},{h},{low},{c},{v},100"


GOOD = (HEADER + "\n" + "\n".join(_row(i) for i in range(24)) + "\n").encode()


def _all_rows(**bad: str) -> bytes:
    return (HEADER + "\n" + "\n".join(_row(i, **bad) for i in range(24)) + "\n").encode()


def _csv_cases() -> dict[str, bytes]:
    cases: dict[str, bytes] = {
        "empty": b"",
        "only newlines": b"\n\n\n",
        "header only": (HEADER + "\n").encode(),
        "no ohlc header": b"a,b,c\n1,2,3\n",
        "semicolons": GOOD.replace(b",", b";"),
        "tabs": GOOD.replace(b",", b"\t"),
        "binary garbage": bytes(random.Random(1).randrange(256) for _ in range(4096)),
        "null bytes": GOOD.replace(b"100.5", b"\x00\x00"),
        "unbalanced quote": GOOD.replace(b"BTCUSDT", b'"BTCUSDT', 1),
        "ragged rows": GOOD + b"1,2,3,4,5,6,7,8,9,10,11,12,13\n",
        "json": b'{"open": 1, "high": 2, "low": 0, "close": 1}',
        "html error page": b"<html><body>429 Too Many Requests</body></html>",
        "gzip magic then garbage": b"\x1f\x8b" + bytes(range(200)),
        "truncated gzip": gzip.compress(GOOD)[:40],
        "gzip of garbage": gzip.compress(bytes(random.Random(2).randrange(256) for _ in range(512))),
        "utf-16": GOOD.decode().encode("utf-16"),
        "latin-1 symbol": GOOD.replace(b"BTCUSDT", b"BTC\xe9USD"),
        "bom then garbage": b"\xef\xbb\xbf\xff\xfe",
        "no time column": "\n".join(line.split(",", 2)[2] for line in GOOD.decode().splitlines()).encode(),
        "no volume column": "\n".join(",".join(line.split(",")[:7]) for line in GOOD.decode().splitlines()).encode(),
        "header twice, no rows": (HEADER + "\n" + HEADER + "\n").encode(),
        "url line only": b"https://www.CryptoDataDownload.com\n",
        "header after ten lines": b"note\n" * 11 + GOOD,
        "one column": b"close\n1\n2\n",
    }
    bad_rows = {
        "negative prices": {"o": "-1", "h": "-1", "low": "-1", "c": "-1"},
        "zero prices": {"o": "0", "h": "0", "low": "0", "c": "0"},
        "text prices": {"o": "abc", "h": "abc", "low": "abc", "c": "abc"},
        "empty prices": {"o": "", "h": "", "low": "", "c": ""},
        "high below low": {"h": "90", "low": "110"},
        "infinite prices": {"o": "1e400", "h": "1e400", "low": "1e400", "c": "1e400"},
        "nan prices": {"o": "nan", "h": "nan", "low": "nan", "c": "nan"},
        "negative volume": {"v": "-5"},
        "text volume": {"v": "lots"},
        "unparseable times": {"date": "yesterday", "unix": "soon"},
        "empty times": {"date": "", "unix": ""},
        "close above high": {"c": "500"},
    }
    for name, bad in bad_rows.items():
        cases[f"all rows: {name}"] = _all_rows(**bad)
    rng = random.Random(16)
    for n in range(16):
        at = rng.randrange(len(GOOD))
        cases[f"byte 0x{0x80 + n:02x} at {at}"] = GOOD[:at] + bytes([0x80 + n]) + GOOD[at:]
    return cases


CSV_CASES = _csv_cases()
CSV_COMMANDS = {
    "train": lambda f, d: ["train", "--data", str(f), "--out", str(d / "bundle")],
    "backtest": lambda f, d: ["backtest", "--data", str(f), "--out", str(d / "report")],
    "evaluate": lambda f, d: ["evaluate", "--bundle", str(d / "b"), "--data", str(f), "--from", "2020-01-01"],
    "data import": lambda f, d: ["data", "import", str(f), "--cache", str(d / "c.sqlite")],
}


def test_there_are_fifty_malformed_csvs_and_the_good_one_reads() -> None:
    from allora_worker.market.csv_source import read_cryptodatadownload

    assert len(CSV_CASES) >= 50
    path = Path("good.csv")
    path.write_bytes(GOOD)
    frame, _ = read_cryptodatadownload(path)
    assert len(frame) == 24  # the base every case breaks is itself readable


@pytest.mark.parametrize("command", sorted(CSV_COMMANDS))
def test_every_malformed_csv_exits_2_with_a_message(command: str, tmp_path: Path) -> None:
    failures = []
    for name, body in CSV_CASES.items():
        path = tmp_path / "in.csv"
        path.write_bytes(body)
        result = invoke(*CSV_COMMANDS[command](path, tmp_path))
        try:
            assert_clean_failure(result, 2, str(path.name))
        except AssertionError as exc:
            failures.append(f"--- {name}: {str(exc)[:600]}")
    assert not failures, f"{len(failures)} of {len(CSV_CASES)} cases:\n" + "\n".join(failures)


def _config_cases() -> dict[str, bytes]:
    topic = VALID_TOML[VALID_TOML.index("[[topics]]"):]
    head = VALID_TOML[: VALID_TOML.index("[[topics]]")]
    cases: dict[str, str | bytes] = {
        "syntax: unclosed string": 'network = "devnet\n',
        "syntax: unclosed table": "[log\nlevel = 'INFO'\n",
        "syntax: bare words": "this is not toml\n",
        "syntax: duplicate key": VALID_TOML + 'network = "devnet"\n',
        "syntax: duplicate table": VALID_TOML + "[log]\n[log]\n",
        "syntax: json": '{"network": "devnet"}',
        "syntax: yaml": "network: devnet\ntopics:\n  - id: 67\n",
        "non-utf8": VALID_TOML.encode() + b"# \xff\xfe\n",
        "utf-16": VALID_TOML.encode("utf-16"),
        "binary": bytes(random.Random(3).randrange(256) for _ in range(300)),
        "unknown top-level key": VALID_TOML + "netwrok = 1\n",
        "unknown topic key": VALID_TOML + "bundel = 'x'\n",
        "unknown table": VALID_TOML + "[feez]\ntier = 'low'\n",
        "network unknown": VALID_TOML.replace('"devnet"', '"moonnet"'),
        "network a number": VALID_TOML.replace('"devnet"', "5"),
        "topic id text": VALID_TOML.replace("id = 67", 'id = "sixty-seven"'),
        "topic id zero": VALID_TOML.replace("id = 67", "id = 0"),
        "topic id negative": VALID_TOML.replace("id = 67", "id = -5"),
        "topic id float": VALID_TOML.replace("id = 67", "id = 67.5"),
        "topic id 2**70": VALID_TOML.replace("id = 67", f"id = {2**70}"),
        "topics a table": head + "[topics]\nid = 67\n",
        "topics a string": head + 'topics = "67"\n',
        "sources empty": VALID_TOML.replace('["replay"]', "[]"),
        "sources unknown": VALID_TOML.replace('["replay"]', '["kraken"]'),
        "sources a string": VALID_TOML.replace('["replay"]', '"replay"'),
        "schedule unknown": VALID_TOML + 'schedule = "weekly"\n',
        "replay_start not a time": VALID_TOML.replace('"2020-03-01T00:00:00Z"', '"last tuesday"'),
        "replay_speed zero": VALID_TOML + "replay_speed = 0\n",
        "max_abs_value nan": VALID_TOML + "max_abs_value = nan\n",
        "max_data_age inf": VALID_TOML + "max_data_age_hours = inf\n",
        "heartbeat 1e400": VALID_TOML.replace("heartbeat_seconds = 60", "heartbeat_seconds = 1e400"),
        "heartbeat negative": VALID_TOML.replace("heartbeat_seconds = 60", "heartbeat_seconds = -1"),
        "heartbeat text": VALID_TOML.replace("heartbeat_seconds = 60", 'heartbeat_seconds = "hourly"'),
        "state_dir empty": VALID_TOML.replace('state_dir = "state"', 'state_dir = ""'),
        "state_dir a number": VALID_TOML.replace('state_dir = "state"', "state_dir = 7"),
        "bundle empty": VALID_TOML.replace('bundle = "models/topic67"', 'bundle = ""'),
        "grpc_endpoints empty": head + "grpc_endpoints = []\n" + topic,
        "grpc_endpoints a string": head + 'grpc_endpoints = "grpc+http://127.0.0.1:9090"\n' + topic,
        "until not a time": head + 'until = "soon"\n' + topic,
        "fees tier unknown": VALID_TOML + "\n[fees]\ntier = 'cheapest'\n",
        "fees gas_adjustment huge": VALID_TOML + "\n[fees]\ngas_adjustment = 100\n",
        "fees max_fee negative": VALID_TOML + "\n[fees]\nmax_fee_uallo = -1\n",
        "log level unknown": VALID_TOML + "\n[log]\nlevel = 'LOUD'\n",
        "log max_bytes zero": VALID_TOML + "\n[log]\nmax_bytes = 0\n",
        "health port 99999": VALID_TOML + "\n[health]\nport = 99999\n",
        "health port text": VALID_TOML + "\n[health]\nport = 'http'\n",
        "health stall nan": VALID_TOML + "\n[health]\nstall_seconds = nan\n",
        "chain timeout zero": VALID_TOML + "\n[chain]\ncall_timeout_seconds = 0\n",
        "chain unknown key": VALID_TOML + "\n[chain]\nretries = 3\n",
        "mnemonic in toml": head + 'mnemonic = "' + " ".join(["abandon"] * 23 + ["art"]) + '"\n' + topic,
        "topic_id text": head + 'topic_id = "x"\n' + topic,
        "on_inactive unknown": VALID_TOML + 'on_inactive = "panic"\n',
        "enabled not a boolean": VALID_TOML + 'enabled = "maybe"\n',
    }
    return {k: v.encode() if isinstance(v, str) else v for k, v in cases.items()}


CONFIG_CASES = _config_cases()
# Problems config check finds after loading (validate), and the commands that validate.
VALIDATED_CASES = {
    "endpoint without host": 'grpc_endpoints = ["grpc+http://:9090"]\n',
    "endpoint port abc": 'grpc_endpoints = ["grpc+http://127.0.0.1:abc"]\n',
    "endpoint scheme": 'grpc_endpoints = ["tcp://127.0.0.1:9090"]\n',
}
CONFIG_COMMANDS = {
    "config check": ["config", "check"],
    "config show": ["config", "show"],
    "status": ["status"],
    "doctor": ["doctor"],
    "run --once": ["run", "--once"],
    "wallet address": ["wallet", "address"],
    "wallet balance": ["wallet", "balance"],
    "register": ["register", "--topic", "67"],
    "data show": ["data", "show"],
}


def test_there_are_fifty_malformed_configs() -> None:
    assert len(CONFIG_CASES) >= 50


@pytest.mark.parametrize("command", sorted(CONFIG_COMMANDS))
def test_every_malformed_config_exits_2_with_a_message(command: str, devnet_config: Path) -> None:
    failures = []
    for name, body in CONFIG_CASES.items():
        devnet_config.write_bytes(body)
        result = invoke("--config", str(devnet_config), *CONFIG_COMMANDS[command])
        try:
            assert_clean_failure(result, 2, "invalid configuration")
            assert "abandon" not in result.output, "the mnemonic was echoed"
        except AssertionError as exc:
            failures.append(f"--- {name}: {str(exc)[:600]}")
    assert not failures, f"{len(failures)} of {len(CONFIG_CASES)} cases:\n" + "\n".join(failures)


@pytest.mark.parametrize("command", ["config check", "doctor", "run --once"])
def test_configs_that_load_but_cannot_work_exit_2_where_validated(command: str, devnet_config: Path) -> None:
    head = VALID_TOML[: VALID_TOML.index("[[topics]]")]
    topic = VALID_TOML[VALID_TOML.index("[[topics]]"):]
    for name, line in VALIDATED_CASES.items():
        devnet_config.write_text(head + line + topic)
        result = invoke("--config", str(devnet_config), *CONFIG_COMMANDS[command])
        assert_clean_failure(result, 2, "grpc endpoint")
        assert name


@pytest.mark.parametrize(
    ("args", "body", "needle"),
    [
        (["config", "check"], VALID_TOML.encode() + b"\xff", "not UTF-8"),
        (["train", "--out", "b", "--data"], b"\xff\xfe garbage", "not UTF-8"),
        (["data", "import"], b"\x1f\x8b garbage", "does not decompress"),
    ],
    ids=["config check", "train", "data import"],
)
def test_as_a_real_process(args: list[str], body: bytes, needle: str, devnet_config: Path, tmp_path: Path) -> None:
    target = devnet_config if args[0] == "config" else tmp_path / "in.csv"
    target.write_bytes(body)
    argv = ["--config", str(devnet_config), *args] if args[0] == "config" else [*args, str(target)]
    if args[0] == "data":
        argv += ["--cache", str(tmp_path / "c.sqlite")]
    done = subprocess.run([str(BINARY), *argv], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert needle in " ".join((done.stdout + done.stderr).replace("│", " ").split())
    assert "Traceback" not in done.stderr
