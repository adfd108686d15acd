# ruff: noqa: E501  (DESCRIPTIONS is a table of prose, one line per key)
"""docs/CONFIGURATION.md, generated from the settings model: every key, its type, default, environment name.

The model (`allora_worker.config`) gives keys, types, defaults, bounds and environment names;
`DESCRIPTIONS` says what each key does. A key without a description, or a description without
a key, fails tests/cli/test_config_reference.py, and so does a CONFIGURATION.md that differs
from `render_markdown()`. Regenerate with `python scripts/gen_configuration_md.py`.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from allora_worker.config import Settings, TopicSettings

DESCRIPTIONS: dict[str, str] = {
    "network": "Which network: a preset (chain id, gRPC endpoints, gas price) or `custom` (set `chain_id` and `grpc_endpoints`).",
    "chain_id": "Chain id; overrides the preset's. The worker refuses to sign for another chain.",
    "grpc_endpoints": "gRPC endpoints in failover order (`grpc+https://host:443`, `grpc+http://127.0.0.1:9090`); overrides the preset's. At least one when set.",
    "mnemonic": "The wallet mnemonic (environment only; refused in a config file). Prefer `MNEMONIC_FILE`; both set is refused.",
    "mnemonic_file": "A file of mode 0600 holding the wallet mnemonic on one line.",
    "wallet_address": "The expected `allo1...` address: the worker refuses to start if the mnemonic derives another.",
    "topic_id": "One topic with default settings, as the original script's `TOPIC_ID`; ignored when `[[topics]]` tables exist.",
    "tiingo_api_key": "Tiingo API key, for topics using the `tiingo` source (environment or `.env`).",
    "topics": "One `[[topics]]` table per topic; keys below as `topics.*`.",
    "state_dir": "Journal, candle cache, `heartbeat.json` and `logs/`. Relative paths in a config file are relative to the file.",
    "until": "Stop cleanly (exit 0) at this ISO 8601 time; in the past is a configuration error.",
    "state_min_free_kib": "Free space (KiB) the state directory's filesystem must keep for the SQLite journal. Below it nothing is signed (one ERROR per stretch) until space is freed, so a full disk never leaves a submission half-recorded. 0 turns the check off.",
    "state_url": "Unset: the journal is SQLite in `state_dir` (one host). `postgresql://user@host:port/dbname`: a PostgreSQL journal shared by an active/standby pair holding a fenced lease (docs/DEPLOYMENT.md). A password in the URL is refused.",
    "state_password_file": "A file of mode 0600 holding the PostgreSQL password (or set `ALLORA_WORKER_STATE_PASSWORD`).",
    "lease_seconds": "With `state_url`: the leader lease. A standby takes over this long after the active stops renewing; keep it well under a submission window.",
    "heartbeat_seconds": "How often the `HEARTBEAT` log line is written.",
    "fees": "`[fees]`: how transactions are priced.",
    "fees.gas_adjustment": "Multiplier on the simulated gas.",
    "fees.tier": "Gas price multiplier over the chain's minimum: low 1.0, standard 1.5, priority 3.0.",
    "fees.max_fee_uallo": "Hard cap on the fee of one transaction, in uallo.",
    "chain": "`[chain]`: deadlines and thresholds of chain calls.",
    "chain.call_timeout_seconds": "Deadline of one gRPC call over all endpoints.",
    "chain.confirm_timeout_seconds": "How long to wait for a broadcast transaction to be included.",
    "chain.min_balance_uallo": "Pre-flight fails below this balance.",
    "chain.rebroadcast_seconds": "While confirming, re-send the same signed tx this often; unset: one measured block time.",
    "chain.on_reset": "A reset chain (same id, new history): stop exits 3; new_journal archives the journal and starts a new epoch.",
    "log": "`[log]`: the log file and its format.",
    "log.level": "DEBUG, INFO, WARNING or ERROR.",
    "log.file": "Log file; default `<state_dir>/logs/allora-worker.log`.",
    "log.max_bytes": "Rotate the log file at this size.",
    "log.backups": "Rotated files kept.",
    "log.json_lines": "Write JSON lines (for a log shipper) instead of text.",
    "log.ascii": "Plain ASCII log lines: the original script's emoji markers are dropped, their words kept.",
    "health": "`[health]`: the HTTP server for `/healthz`, `/readyz`, `/metrics` and the status page.",
    "health.host": "Address to bind (IPv4 or a host name); loopback by default.",
    "health.port": "Port to bind; 0 picks a free one (logged at start).",
    "health.enabled": "Run the health server at all.",
    "health.allow_remote": "Required for a host other than loopback: /metrics and the status page become reachable from other machines.",
    "health.stall_seconds": "`/healthz` turns 503 when the loop made no progress for this long.",
    "health.max_windows_without_success": "... or when this many windows in a row had no accepted submission.",
    "topics.id": "Topic id on the chain (1 .. 2^64-1).",
    "topics.bundle": "Model bundle directory; default `<state_dir>/models/topic<id>`. Relative to the config file.",
    "topics.sources": "Candle sources, primary first, then the cross-check and fallback: tiingo, binance, coinbase, csv, replay (devnet only).",
    "topics.data_file": "CSV file for the `csv` source. Relative to the config file.",
    "topics.schedule": "`nonce`: submit to every open worker window; `interval`: every `interval_seconds`.",
    "topics.interval_seconds": "Period of the `interval` schedule.",
    "topics.poll_seconds": "How often to look for open windows; unset: derived from the topic's timing.",
    "topics.until": "Stop this topic at this ISO 8601 time (the others go on).",
    "topics.max_data_age_hours": "Skip the window rather than predict from a newest candle older than this.",
    "topics.max_abs_value": "Refuse a prediction beyond this magnitude.",
    "topics.on_inactive": "When the chain says the topic is inactive: `wait`, or `stop` this topic.",
    "topics.replay_dataset": "`replay` source: which bundled data set, binance or coinbase.",
    "topics.replay_start": "`replay` source: the historical UTC time the replay starts at (required).",
    "topics.replay_speed": "`replay` source: how many times faster than the wall clock history runs.",
    "topics.enabled": "false: keep the table but do not run the topic.",
    "topics.predict_url": "Take predictions from this inference server instead of a bundle (a bare number or "
    "JSON; e.g. basic-coin-prediction-node's `http://127.0.0.1:8000/inference/BTC`). See docs/MODEL.md.",
    "topics.predict_timeout_seconds": "`predict_url`: seconds one request may take.",
    "topics.predict_retries": "`predict_url`: extra attempts after a timeout, refused connection or 5xx "
    "(never after a wrong answer).",
    "topics.predict_health_url": "`predict_url`: a URL that must answer 2xx before every prediction.",
    "topics.check_candles": "`predict_url`: fetch and check the candles anyway; a failed check skips the window.",
    "topics.predictor": "Take predictions from the plugin of this name (entry point `allora_worker.predictors`); "
    "imported only when named.",
}

_PREFIX = "ALLORA_WORKER_"
_SECRET_TYPES = (SecretStr,)


def _leaf_type(annotation: Any) -> Any:
    """`X | None` -> X; everything else as it is."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _type_name(annotation: Any) -> str:
    inner = _leaf_type(annotation)
    optional = inner is not annotation
    origin = typing.get_origin(inner)
    if origin is typing.Literal:
        name = " \\| ".join(f'"{a}"' for a in typing.get_args(inner))
    elif origin is list:
        (item,) = typing.get_args(inner)
        name = f"list of {_type_name(item)}"
    elif isinstance(inner, type) and issubclass(inner, BaseModel):
        name = "table"
    elif inner is SecretStr:
        name = "secret string"
    elif inner is Path:
        name = "path"
    else:
        name = getattr(inner, "__name__", str(inner))
        name = {"datetime": "ISO 8601 time", "str": "string", "int": "integer", "float": "number",
                "bool": "boolean"}.get(name, name)
    return name + (" (optional)" if optional else "")


def _bounds(info: FieldInfo) -> str:
    parts = []
    for item in info.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "length >=")):
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{sign} {value}")
    return ", ".join(parts)


def _default(info: FieldInfo) -> str:
    if info.default is not PydanticUndefined:
        value = info.default
    elif info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "(table)"
    else:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    if isinstance(value, str | Path):
        return f'"{value}"'
    return f"{value:,}".replace(",", "_") if isinstance(value, int) and value >= 10**6 else str(value)


def _env_names(name: str, info: FieldInfo, parent: str | None) -> str:
    if parent == "topics":
        return "TOML only"
    if parent is not None:
        return f"`{_PREFIX}{parent.upper()}__{name.upper()}`"
    alias = info.validation_alias
    choices = [c for c in getattr(alias, "choices", []) if isinstance(c, str) and c.isupper()]
    return ", ".join(f"`{c}`" for c in choices) if choices else f"`{_PREFIX}{name.upper()}`"


def rows() -> list[tuple[str, str, str, str, str]]:
    """(key, type, default, environment, description) of every setting, tables expanded."""
    out: list[tuple[str, str, str, str, str]] = []

    def add(model: type[BaseModel], parent: str | None) -> None:
        for name, info in model.model_fields.items():
            key = f"{parent}.{name}" if parent else name
            type_name = _type_name(info.annotation)
            bounds = _bounds(info)
            if bounds:
                type_name += f"; {bounds}"
            out.append((key, type_name, _default(info), _env_names(name, info, parent), DESCRIPTIONS.get(key, "")))
            inner = _leaf_type(info.annotation)
            if isinstance(inner, type) and issubclass(inner, BaseModel) and parent is None:
                add(inner, name)

    add(Settings, None)
    add(TopicSettings, "topics")
    return out


def render_markdown() -> str:
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from the settings model by `python scripts/gen_configuration_md.py`; do not edit. -->",
        "",
        "Settings come from, highest first: command-line flags, the environment, a `.env` file in the",
        "working directory, and a TOML file (`--config FILE`, or `./allora-worker.toml` when present).",
        "Nested keys take `__` in environment names (`ALLORA_WORKER_LOG__LEVEL=DEBUG`); lists and",
        "tables in the environment are JSON. Unknown keys are errors. Relative paths in a config",
        "file are relative to that file. `allora-worker config example` prints a commented",
        "starting config; `allora-worker config check` lists every problem at once (exit 2);",
        "`allora-worker config show` prints the effective settings with secrets as `***`.",
        "Secrets (the mnemonic, the Tiingo key) belong in the environment or a 0600 file, never in the TOML.",
        "",
        "| key | type | default | environment | what it does |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, type_name, default, env, text in rows():
        lines.append(f"| `{key}` | {type_name} | `{default}` | {env} | {text} |".replace("``", "`-`"))
    return "\n".join(lines) + "\n"
