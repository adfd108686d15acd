"""Settings: CLI flags > environment > `.env` > a TOML file, validated before anything starts.

The names users of the original submission script already have in their `.env` are accepted
(`MNEMONIC`, `MNEMONIC_FILE`, `ALLORA_WALLET_ADDR`, `TOPIC_ID`, `TIINGO_API_KEY`) beside the
project's own `ALLORA_WORKER_*` names. Every problem is listed at once, in plain words
(`ConfigError.problems`), so a user fixes a config in one go instead of one error per start.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from allora_worker.exitcodes import EXIT_CONFIG
from allora_worker.secrets import REDACTED, redact, register_secret
from allora_worker.wallet_format import (
    check_mnemonic,
    check_private_file,
    english_words,
    is_valid_address,
    normalize_mnemonic,
)

NetworkName = Literal["testnet", "mainnet", "devnet", "custom"]
SourceName = Literal["tiingo", "binance", "coinbase", "csv", "replay"]
ScheduleName = Literal["nonce", "interval"]

DEFAULT_CONFIG_FILE = "allora-worker.toml"
DEFAULT_DEVNET_PORT = 9090
# Topic ids are uint64 on the chain; a larger number cannot even be encoded.
MAX_TOPIC_ID = 2**64 - 1
# The original daemon ran on Tiingo; keep it the default, with Binance as the independent check.
DEFAULT_SOURCES: tuple[SourceName, ...] = ("tiingo", "binance")


class NetworkPreset(BaseModel):
    chain_id: str
    grpc_endpoints: list[str]
    fee_denom: str = "uallo"
    min_gas_price: float


NETWORK_PRESETS: dict[str, NetworkPreset] = {
    "testnet": NetworkPreset(
        chain_id="allora-testnet-1",
        grpc_endpoints=["grpc+https://allora-grpc.testnet.allora.network:443"],
        min_gas_price=10.0,
    ),
    "mainnet": NetworkPreset(
        chain_id="allora-mainnet-1",
        grpc_endpoints=["grpc+https://allora-grpc.mainnet.allora.network:443"],
        min_gas_price=250_000_000.0,
    ),
    "devnet": NetworkPreset(
        chain_id="allora-devnet-1",
        grpc_endpoints=[f"grpc+http://127.0.0.1:{DEFAULT_DEVNET_PORT}"],
        min_gas_price=10.0,
    ),
}


class TopicSettings(BaseModel):
    """One `[[topics]]` table. Unknown keys are errors: a typo must not silently fall back."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: int = Field(ge=1, le=MAX_TOPIC_ID)
    bundle: Path | None = None
    # A primary and, optionally, a second venue that cross-checks it (market/provider.py): a third
    # would have no role, so it is refused rather than ignored.
    sources: list[SourceName] = Field(default_factory=lambda: list(DEFAULT_SOURCES), min_length=1, max_length=2)
    data_file: Path | None = None
    schedule: ScheduleName = "nonce"
    interval_seconds: float = Field(default=3600.0, gt=0)
    poll_seconds: float | None = Field(default=None, gt=0)
    until: datetime | None = None
    max_data_age_hours: float = Field(default=2.0, gt=0)
    # A prediction beyond this magnitude is refused (a 168 h BTC log-return of 1.0 is a 172% move).
    max_abs_value: float = Field(default=1.0, gt=0)
    # What to do when the chain says the topic is inactive: keep waiting, or stop this topic.
    on_inactive: Literal["wait", "stop"] = "wait"
    # `replay` source only (devnet): which bundled data set, from when, how fast.
    replay_dataset: Literal["binance", "coinbase"] = "binance"
    replay_start: datetime | None = None
    replay_speed: float = Field(default=1.0, gt=0)
    enabled: bool = True
    # Bring your own model (docs/MODEL.md): instead of a bundle, an inference server's URL
    # (e.g. basic-coin-prediction-node's http://127.0.0.1:8000/inference/BTC) or the name of a
    # plugin registered under the `allora_worker.predictors` entry point.
    predict_url: str | None = Field(default=None, pattern=r"^https?://")
    predict_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    predict_retries: int = Field(default=1, ge=0, le=5)
    # Asked before every prediction; must answer 2xx. Unset: the inference answer is the probe.
    predict_health_url: str | None = Field(default=None, pattern=r"^https?://")
    # predict_url only: fetch and check the candles first (fresh, complete, agreeing) and skip
    # the window when they fail, although the endpoint does not read them.
    check_candles: bool = False
    predictor: str | None = Field(default=None, min_length=1)

    @property
    def uses_candles(self) -> bool:
        return self.predict_url is None or self.check_candles

    @field_validator("bundle", "data_file", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        # Path("") is ".": an empty path would silently mean the working directory.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty: give a path, or leave the key out")
        return value


class FeeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    gas_adjustment: float = Field(default=1.5, ge=1.0, le=10.0)
    tier: Literal["low", "standard", "priority"] = "standard"
    max_fee_uallo: int = Field(default=2_000_000_000_000_000, gt=0)


FEE_TIER_MULTIPLIER = {"low": 1.0, "standard": 1.5, "priority": 3.0}


class ChainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    call_timeout_seconds: float = Field(default=10.0, gt=0)
    confirm_timeout_seconds: float = Field(default=60.0, gt=0)
    # Pre-flight fails under this balance: a worker that cannot pay fees only fills the logs.
    min_balance_uallo: int = Field(default=1, ge=0)
    # While confirming, re-send the same signed tx this often (a node may drop it from its
    # mempool). None: one block time, as the daemon measures it.
    rebroadcast_seconds: float | None = Field(default=None, gt=0)
    # A chain whose height falls below a nonce the journal holds was reset (same chain id, new
    # history): "stop" exits 3 and says so; "new_journal" archives the journal and starts a new
    # journal epoch for the new chain. Rows of two chains are never mixed either way.
    on_reset: Literal["stop", "new_journal"] = "stop"


class LogSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    file: Path | None = None
    max_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    backups: int = Field(default=5, ge=0)
    json_lines: bool = False
    # Plain ASCII: the original script's emoji markers become plain text (grep for the words).
    ascii: bool = False


class HealthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    enabled: bool = True
    # A host other than loopback exposes /metrics and the status page (balance, tx hashes, errors)
    # to the network: it must be meant, not a typo.
    allow_remote: bool = False
    stall_seconds: float = Field(default=600.0, gt=0)
    max_windows_without_success: int = Field(default=3, ge=1)


# The parsed TOML of the `load_settings` call that is building a Settings right now. A context
# variable rather than a class attribute, so one Settings class serves every load (no class built
# per load) and loads in two threads cannot see each other's file.
_TOML_DATA: ContextVar[dict[str, Any] | None] = ContextVar("allora_worker_toml_data", default=None)


class Settings(BaseSettings):
    """The effective configuration. Build it with `load_settings`, not directly."""

    model_config = SettingsConfigDict(
        env_prefix="ALLORA_WORKER_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        populate_by_name=True,
        allow_inf_nan=False,
    )

    network: NetworkName = "testnet"
    chain_id: str | None = None
    grpc_endpoints: list[str] | None = Field(default=None, min_length=1)

    mnemonic: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("MNEMONIC", "ALLORA_WORKER_MNEMONIC", "mnemonic")
    )
    mnemonic_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("MNEMONIC_FILE", "ALLORA_WORKER_MNEMONIC_FILE", "mnemonic_file"),
    )
    wallet_address: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ALLORA_WALLET_ADDR", "ALLORA_WORKER_WALLET_ADDRESS", "wallet_address"),
    )
    topic_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TOPIC_ID,
        validation_alias=AliasChoices("TOPIC_ID", "ALLORA_WORKER_TOPIC_ID", "topic_id"),
    )
    tiingo_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TIINGO_API_KEY", "ALLORA_WORKER_TIINGO_API_KEY", "tiingo_api_key"),
    )

    topics: list[TopicSettings] = Field(default_factory=list)
    state_dir: Path = Path("~/.allora-worker")
    # Free space the state directory's filesystem must keep for the SQLite journal: below it the
    # daemon signs nothing (one ERROR per stretch) until space is freed. 0 disables the check.
    state_min_free_kib: int = Field(default=1024, ge=0)
    # The journal: unset = SQLite in state_dir (one host). "postgresql://user@host:port/db" = a
    # PostgreSQL journal shared by an active/standby pair holding a fenced lease (docs/DEPLOYMENT.md);
    # the password comes from state_password_file (0600) or ALLORA_WORKER_STATE_PASSWORD.
    state_url: str | None = None
    state_password_file: Path | None = None
    # The leader lease: a standby takes over this long after the active stops renewing. Keep it
    # well under a submission window, so a dead active costs at most the window it died in.
    lease_seconds: float = Field(default=20.0, gt=0)
    until: datetime | None = None
    heartbeat_seconds: float = Field(default=3600.0, gt=0)
    fees: FeeSettings = Field(default_factory=FeeSettings)
    chain: ChainSettings = Field(default_factory=ChainSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)

    @field_validator("state_dir", "mnemonic_file", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        # Path("") is ".": an empty state_dir would put the journal in the working directory.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty: give a path, or leave the key out")
        return value

    @field_validator("state_dir", "mnemonic_file", "state_password_file", mode="after")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return Path(os.path.expanduser(str(value))) if value is not None else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        toml_data = _TOML_DATA.get()
        if toml_data is not None:
            # The TOML as parsed by load_settings, its relative paths already resolved against
            # the file's directory (a TOML source reading the file itself would keep them relative).
            sources.append(InitSettingsSource(settings_cls, init_kwargs=toml_data))
        return tuple(sources)

    # Derived views -------------------------------------------------------------------------

    @property
    def preset(self) -> NetworkPreset | None:
        return NETWORK_PRESETS.get(self.network)

    @property
    def effective_chain_id(self) -> str:
        if self.chain_id:
            return self.chain_id
        return self.preset.chain_id if self.preset else ""

    @property
    def effective_endpoints(self) -> list[str]:
        if self.grpc_endpoints:
            return list(self.grpc_endpoints)
        return list(self.preset.grpc_endpoints) if self.preset else []

    @property
    def effective_topics(self) -> list[TopicSettings]:
        """`[[topics]]` tables, or one default topic from `TOPIC_ID` (the original script's way)."""
        if self.topics:
            return [t for t in self.topics if t.enabled]
        if self.topic_id is not None:
            return [TopicSettings(id=self.topic_id)]
        return []

    @property
    def journal_path(self) -> Path:
        return self.state_dir / "journal.sqlite"

    @property
    def candle_cache_path(self) -> Path:
        return self.state_dir / "candles.sqlite"

    @property
    def log_file(self) -> Path:
        return self.log.file if self.log.file is not None else self.state_dir / "logs" / "allora-worker.log"

    def redacted_dict(self) -> dict[str, Any]:
        """The effective config for display: every secret shown as `***`."""
        data = self.model_dump(mode="json")
        for key in ("mnemonic", "tiingo_api_key"):
            if data.get(key):
                data[key] = REDACTED
        data["effective"] = {
            "chain_id": self.effective_chain_id,
            "grpc_endpoints": self.effective_endpoints,
            "topics": [t.id for t in self.effective_topics],
            "journal": self.state_url or str(self.journal_path),
            "log_file": str(self.log_file),
        }
        redacted: dict[str, Any] = _redact_tree(data)
        return redacted


def _redact_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _redact_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_tree(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


class ConfigError(Exception):
    """The configuration cannot be used. `problems` lists every one, each in plain words."""

    exit_code = EXIT_CONFIG

    def __init__(self, problems: list[str]) -> None:
        self.problems = [redact(p) for p in problems]
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems))


def _describe_validation_error(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "config"
        if item["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown setting (check the spelling; see `allora-worker config show`)")
        else:
            problems.append(f"{where}: {item['msg']}")
    return problems


_SECRET_KEYS = frozenset(
    {"MNEMONIC", "ALLORA_WORKER_MNEMONIC", "mnemonic", "TIINGO_API_KEY", "ALLORA_WORKER_TIINGO_API_KEY",
     "tiingo_api_key"}
)


# The environment variables the settings read (besides ALLORA_WORKER_*): the original script's names.
_LEGACY_ENV = frozenset({"MNEMONIC", "MNEMONIC_FILE", "ALLORA_WALLET_ADDR", "TOPIC_ID", "TIINGO_API_KEY"})


def _our_environment() -> dict[str, str]:
    """The part of the environment the settings read; other variables are none of ours to judge."""
    return {k: v for k, v in os.environ.items() if k.startswith("ALLORA_WORKER_") or k in _LEGACY_ENV}


def _register_raw_secrets(raw: dict[str, Any]) -> None:
    """Register secrets from the raw inputs before validation, so no message can ever echo them.

    Values of the secret keys are secrets; so is any value, in any key, that looks like a
    mnemonic or a private key (a user may paste one into the wrong field).
    """

    def walk(value: Any, secret: bool) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, secret or key in _SECRET_KEYS)
        elif isinstance(value, list):
            for item in value:
                walk(item, secret)
        elif isinstance(value, str):
            stripped = value.strip()
            if secret or _looks_like_mnemonic(stripped) or _PRIVATE_KEY_HEX.fullmatch(stripped.removeprefix("0x")):
                register_secret(stripped)
                register_secret(normalize_mnemonic(stripped))

    walk(raw, False)


_PRIVATE_KEY_HEX = re.compile(r"[0-9a-fA-F]{64}")


def _looks_like_mnemonic(value: str) -> bool:
    """12 to 24 words, all but at most two from the BIP39 English list.

    A mnemonic with a typo or two is still a secret, so the words need not check out as BIP39;
    but an ordinary sentence is not one (most English words are not on the list), and masking it
    would hide plain text in every log line that quotes it.
    """
    words = normalize_mnemonic(value).split()
    if not 12 <= len(words) <= 24:
        return False
    known = english_words()
    return sum(word in known for word in words) >= len(words) - 2


def _scan_for_misplaced_secrets(settings: Settings, problems: list[str]) -> None:
    """A mnemonic pasted into a non-secret field must be masked and reported, never echoed."""
    plain = settings.model_dump(mode="json", exclude={"mnemonic", "tiingo_api_key"})

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}.{k}" if where else str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")
        elif isinstance(value, str) and _looks_like_mnemonic(value):
            register_secret(value)
            register_secret(normalize_mnemonic(value))
            problems.append(f"{where}: holds what looks like a mnemonic; secrets belong in MNEMONIC_FILE only")
        elif isinstance(value, str) and _PRIVATE_KEY_HEX.fullmatch(value.strip().removeprefix("0x")):
            register_secret(value.strip())
            problems.append(f"{where}: holds what looks like a private key; never put keys in the config")

    walk(plain, "")


def _state_url_problems(settings: Settings) -> list[str]:
    url = settings.state_url or ""
    scheme, _, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres") or not rest:
        return [f"state_url must be a PostgreSQL URL (postgresql://user@host:port/dbname), not {redact(url)!r}"]
    userinfo = rest.split("@", 1)[0] if "@" in rest.split("/", 1)[0] else ""
    if ":" in userinfo:
        register_secret(userinfo.split(":", 1)[1])
        return ["state_url carries a password: remove it and put the password in state_password_file "
                "(mode 0600) or ALLORA_WORKER_STATE_PASSWORD"]
    if settings.state_password_file is not None:
        problem = check_private_file(settings.state_password_file)
        if problem:
            return [problem]
    return []


def validate(settings: Settings, *, now: datetime | None = None, need_wallet: bool = True) -> list[str]:
    """Every problem with `settings`, in plain words; empty when it can be used."""
    now = now or datetime.now(UTC)
    problems: list[str] = []
    _scan_for_misplaced_secrets(settings, problems)

    if settings.network == "custom" and not (settings.chain_id and settings.grpc_endpoints):
        problems.append("network 'custom' needs both chain_id and grpc_endpoints")
    for endpoint in settings.effective_endpoints:
        problem = _endpoint_problem(endpoint)
        if problem:
            problems.append(problem)
    problem = _health_host_problem(settings.health)
    if problem:
        problems.append(problem)

    if need_wallet:
        if settings.mnemonic_file is not None and settings.mnemonic is not None:
            problems.append(
                "both MNEMONIC and MNEMONIC_FILE are set: unset MNEMONIC and keep the words only in "
                "the 0600 file MNEMONIC_FILE names"
            )
        elif settings.mnemonic_file is not None:
            problem = check_private_file(settings.mnemonic_file)
            if problem:
                problems.append(problem)
            else:
                text = settings.mnemonic_file.read_text(encoding="utf-8")
                register_secret(text.strip())
                register_secret(normalize_mnemonic(text))
                problem = check_mnemonic(text)
                if problem:
                    problems.append(f"{settings.mnemonic_file}: {problem}")
        elif settings.mnemonic is not None:
            problem = check_mnemonic(settings.mnemonic.get_secret_value())
            if problem:
                problems.append(f"MNEMONIC: {problem}")
        else:
            problems.append("no wallet: set MNEMONIC_FILE to a file of mode 0600 holding the mnemonic (or MNEMONIC)")

    if settings.state_url is not None:
        problems.extend(_state_url_problems(settings))

    if settings.wallet_address and not is_valid_address(settings.wallet_address):
        problems.append(
            f"ALLORA_WALLET_ADDR {redact(settings.wallet_address)!r} is not a valid 'allo1...' address"
        )

    seen: set[int] = set()
    for topic in settings.topics:
        if topic.id in seen:
            problems.append(f"topic {topic.id} is configured twice")
        seen.add(topic.id)
    for topic in settings.effective_topics:
        chosen = [k for k in ("bundle", "predict_url", "predictor") if getattr(topic, k) is not None]
        if len(chosen) > 1:
            problems.append(f"topic {topic.id}: set one of bundle, predict_url and predictor, "
                            f"not {' and '.join(chosen)}")
        if topic.predictor is not None and topic.predictor not in _installed_predictors():
            problems.append(
                f"topic {topic.id}: no predictor plugin named {topic.predictor!r} is installed (installed: "
                f"{', '.join(sorted(_installed_predictors())) or 'none'}; a package registers one under the "
                "'allora_worker.predictors' entry point)"
            )
        if topic.uses_candles and "tiingo" in topic.sources and settings.tiingo_api_key is None:
            problems.append(
                f"topic {topic.id} uses the tiingo source but TIINGO_API_KEY is not set "
                "(set it, or choose sources = [\"binance\", \"coinbase\"])"
            )
        if "replay" in topic.sources and settings.network != "devnet":
            problems.append(
                f"topic {topic.id}: the replay source replays recorded history and is allowed on the "
                "devnet only; use tiingo, binance or coinbase on a real network"
            )
        if "replay" in topic.sources and topic.replay_start is None:
            problems.append(f"topic {topic.id}: the replay source needs replay_start (a past UTC time)")
        if "csv" in topic.sources and topic.data_file is None:
            problems.append(f"topic {topic.id} uses the csv source but has no data_file")
        elif "csv" in topic.sources and topic.data_file is not None and not _expand(topic.data_file).is_file():
            problems.append(f"topic {topic.id}: data_file {topic.data_file} does not exist or is not a file")
        if topic.bundle is not None and not _expand(topic.bundle).exists():
            problems.append(f"topic {topic.id}: model bundle {topic.bundle} does not exist (run allora-worker train)")
        if topic.until is not None and _aware(topic.until) <= now:
            problems.append(f"topic {topic.id}: end time {topic.until.isoformat()} is in the past")
    bundles: dict[Path, int] = {}
    for topic in settings.effective_topics:
        if topic.bundle is None:
            continue
        where = _expand(topic.bundle).resolve()
        if where in bundles:
            problems.append(
                f"topics {bundles[where]} and {topic.id} share the bundle {topic.bundle}: each topic needs "
                "its own (a retrain or reload of one would change the other)"
            )
        bundles.setdefault(where, topic.id)
    if settings.until is not None and _aware(settings.until) <= now:
        problems.append(f"until: end time {settings.until.isoformat()} is in the past")
    return [redact(p) for p in problems]


def _expand(path: Path) -> Path:
    return Path(os.path.expanduser(str(path)))


_ENDPOINT_SCHEMES = ("grpc+http", "grpc+https", "grpcs", "http", "https")


def _endpoint_problem(endpoint: str) -> str | None:
    """Why a gRPC endpoint URL cannot be dialled, or None."""
    parts = urlsplit(endpoint)
    if parts.scheme not in _ENDPOINT_SCHEMES or "://" not in endpoint:
        return f"grpc endpoint {endpoint!r} must start with grpc+http:// or grpc+https://"
    if not parts.hostname:
        return f"grpc endpoint {endpoint!r} has no host (e.g. grpc+https://host.example:443)"
    try:
        port = parts.port
    except ValueError:
        return f"grpc endpoint {endpoint!r} has an invalid port (a number from 1 to 65535)"
    if port == 0:
        return f"grpc endpoint {endpoint!r} has an invalid port (a number from 1 to 65535)"
    return None


_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")


def _health_host_problem(health: HealthSettings) -> str | None:
    """The health server binds an IPv4 socket: it needs an IPv4 address or a host name."""
    host = health.host.strip()
    if not host:
        return "health.host is empty: use 127.0.0.1 (loopback)"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.fullmatch(host):
            return f"health.host {host!r} is not an IP address or a host name; use 127.0.0.1 (loopback)"
        if health_exposed(host) and not health.allow_remote:
            return (f"health.host {host!r} makes /metrics and the status page reachable from other machines; "
                    "set health.allow_remote = true if that is meant (and firewall it), or use 127.0.0.1")
        return None
    if address.version == 6:
        return f"health.host {host!r}: the health server listens on IPv4 only; use 127.0.0.1 (loopback)"
    if health_exposed(host) and not health.allow_remote:
        return (f"health.host {host!r} makes /metrics and the status page reachable from other machines; "
                "set health.allow_remote = true if that is meant (and firewall it), or use 127.0.0.1")
    return None


def _installed_predictors() -> set[str]:
    # Names only: reading entry points imports no plugin code.
    from importlib.metadata import entry_points

    return {ep.name for ep in entry_points(group="allora_worker.predictors")}


def health_exposed(host: str) -> bool:
    """Whether the health server on `host` is reachable from beyond this machine."""
    host = host.strip()
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a host name: it resolves to some interface's address


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def load_settings(
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    env_file: Path | None = Path(".env"),
) -> Settings:
    """Settings from CLI overrides > environment > .env > TOML; raises ConfigError listing every problem.

    Without an explicit `config_file`, `./allora-worker.toml` is read when it exists.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if config_file is None and Path(DEFAULT_CONFIG_FILE).is_file():
        config_file = Path(DEFAULT_CONFIG_FILE)
    problems: list[str] = []
    raw_toml: dict[str, Any] = {}
    if config_file is not None:
        if not config_file.is_file():
            hint = " (it is a directory)" if config_file.is_dir() else ""
            raise ConfigError([f"config file {config_file} does not exist{hint}"])
        try:
            raw_toml = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(
                [f"config file {config_file} is not UTF-8 text (byte {exc.start}): save it as UTF-8"]
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"config file {config_file} is not valid TOML: {exc}"]) from None
        _register_raw_secrets(raw_toml)
        problems.extend(_secrets_in_toml(raw_toml, config_file))
        raw_toml = _resolve_relative_paths(raw_toml, config_file.parent)

    _register_raw_secrets(_our_environment())
    _register_raw_secrets(overrides)
    if env_file is not None and env_file.is_file():
        # python-dotenv: the parser pydantic-settings reads the same file with.
        _register_raw_secrets({k: v for k, v in dotenv_values(env_file).items() if v is not None})

    token = _TOML_DATA.set(raw_toml if config_file is not None else None)
    try:
        settings = Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]  # a BaseSettings init kwarg mypy cannot see
    except ValidationError as exc:
        problems.extend(_describe_validation_error(exc))
        # validate() cannot run without Settings: still name the missing bundles now, so one
        # `config check` lists every problem.
        problems.extend(_missing_bundles(raw_toml))
        raise ConfigError(problems) from None
    finally:
        _TOML_DATA.reset(token)
    if problems:
        raise ConfigError(problems)
    if settings.mnemonic is not None:
        register_secret(settings.mnemonic.get_secret_value())
    if settings.tiingo_api_key is not None:
        register_secret(settings.tiingo_api_key.get_secret_value())
    return settings


_TOML_SECRET_KEYS = ("mnemonic", "MNEMONIC", "ALLORA_WORKER_MNEMONIC")


def _secrets_in_toml(raw: dict[str, Any], path: Path) -> list[str]:
    """A mnemonic in the config file is refused: config files get copied, shared and committed."""
    return [
        f"{path}: `{key}` holds the wallet mnemonic; remove it. Put the words in a file of mode 0600 "
        "and name that file with MNEMONIC_FILE (environment or env file), never in the config"
        for key in _TOML_SECRET_KEYS
        if key in raw
    ]


# Path settings a config file may write relative to itself.
_TOP_LEVEL_PATHS = ("state_dir", "mnemonic_file")
_TOPIC_PATHS = ("bundle", "data_file")


def _resolve_relative_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative paths in a config file mean relative to that file, not to the working directory."""

    def resolve(value: Any) -> Any:
        if not isinstance(value, str) or not value.strip() or value.startswith("~"):
            return value
        return value if Path(value).is_absolute() else str(base.absolute() / value)

    out = dict(raw)
    for key in _TOP_LEVEL_PATHS:
        if key in out:
            out[key] = resolve(out[key])
    if isinstance(out.get("log"), dict) and "file" in out["log"]:
        out["log"] = {**out["log"], "file": resolve(out["log"]["file"])}
    if isinstance(out.get("topics"), list):
        out["topics"] = [
            {**t, **{k: resolve(t[k]) for k in _TOPIC_PATHS if k in t}} if isinstance(t, dict) else t
            for t in out["topics"]
        ]
    return out


def _missing_bundles(raw: dict[str, Any]) -> list[str]:
    topics = raw.get("topics")
    if not isinstance(topics, list):
        return []
    problems = []
    for topic in topics:
        if not isinstance(topic, dict):
            continue
        bundle = topic.get("bundle")
        if isinstance(bundle, str) and bundle.strip() and not _expand(Path(bundle)).exists():
            problems.append(
                f"topic {topic.get('id', '?')}: model bundle {bundle} does not exist (run allora-worker train)"
            )
    return problems

