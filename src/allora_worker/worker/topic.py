"""What one topic needs to predict: its settings, its predictor, and its checked candle provider.

The predictor is a model bundle (the default), an HTTP inference endpoint (`predict_url`) or a
plugin (`predictor`). A bundle is verified before every use and reloaded when its files changed
on disk (a retrain dropped in place); a bundle that no longer verifies and cannot be reloaded
skips the cycle. An endpoint answers its health probe every cycle instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from allora_worker.config import Settings, TopicSettings
from allora_worker.logging_setup import get_logger
from allora_worker.market.base import CandleSource
from allora_worker.market.cache import CandleCache
from allora_worker.market.checks import CheckConfig
from allora_worker.market.clock import Clock, ReplayClock, SystemClock
from allora_worker.market.provider import CandleProvider
from allora_worker.market.replay import ReplaySource
from allora_worker.market.sources import make_http_source
from allora_worker.model.bundle import LoadedBundle, load_bundle
from allora_worker.model.errors import BundleError
from allora_worker.model.predictors import Predictor

log = get_logger("worker.topic")


def bundle_path(settings: Settings, topic: TopicSettings) -> Path:
    """The topic's bundle directory: configured, or `<state_dir>/models/topic<id>`."""
    if topic.bundle is not None:
        return Path(topic.bundle).expanduser()
    return settings.state_dir / "models" / f"topic{topic.id}"


def topic_clock(topic: TopicSettings) -> Clock:
    """Wall time, or, for a replay topic (devnet only), history replayed from `replay_start`."""
    if "replay" in topic.sources and topic.replay_start is not None:
        return ReplayClock(topic.replay_start, speed=topic.replay_speed)
    return SystemClock()


def make_source(name: str, settings: Settings, topic: TopicSettings, clock: Clock) -> CandleSource:
    if name == "replay":
        return ReplaySource.bundled(topic.replay_dataset, clock)
    if name == "csv":
        if topic.data_file is None:
            raise ValueError(f"topic {topic.id}: the csv source needs data_file")
        # The CSV importer is pandas-based (messy real exports); only a topic that reads a file loads it.
        from allora_worker.market.csv_source import CsvSource

        return CsvSource(Path(topic.data_file).expanduser())
    if name == "tiingo":
        key = settings.tiingo_api_key.get_secret_value() if settings.tiingo_api_key else None
        return make_http_source("tiingo", api_key=key, clock=clock)
    return make_http_source(name, clock=clock)


def make_provider(settings: Settings, topic: TopicSettings, clock: Clock) -> CandleProvider:
    """The primary source, cross-checked by the second when there is one (TopicSettings allows 1-2)."""
    if not 1 <= len(topic.sources) <= 2:
        raise ValueError(f"topic {topic.id}: sources must name one or two sources, not {len(topic.sources)}")
    primary, *secondary = (make_source(name, settings, topic, clock) for name in topic.sources)
    # Replays and CSV files are local already; caching them would only duplicate the file.
    live = all(name in ("tiingo", "binance", "coinbase") for name in topic.sources)
    cache = CandleCache(settings.candle_cache_path) if live else None
    config = CheckConfig(max_staleness=timedelta(hours=topic.max_data_age_hours))
    return CandleProvider(primary, secondary[0] if secondary else None, cache=cache, config=config)


@dataclass
class TopicRuntime:
    settings: TopicSettings
    bundle_dir: Path
    provider: CandleProvider
    clock: Clock
    bundle: LoadedBundle | None = None
    problems: list[str] = field(default_factory=list)
    other: Predictor | None = None  # an endpoint or a plugin, built once

    @property
    def uses_bundle(self) -> bool:
        return self.settings.predict_url is None and self.settings.predictor is None

    def current_predictor(self) -> Predictor:
        """This cycle's predictor, checked (hashes or health probe); raises BundleError when unusable."""
        if self.uses_bundle:
            return self.current_bundle()
        if self.other is None:
            self.other = _build_other(self.settings)
            log.info("topic %s: predictions from %s", self.topic_id, self.other.describe())
        self.other.check()
        return self.other

    @classmethod
    def build(cls, settings: Settings, topic: TopicSettings, clock: Clock | None = None) -> TopicRuntime:
        clock = clock or topic_clock(topic)
        return cls(topic, bundle_path(settings, topic), make_provider(settings, topic, clock), clock)

    @property
    def topic_id(self) -> int:
        return self.settings.id

    def current_bundle(self) -> LoadedBundle:
        """The verified bundle, reloaded if its files changed; raises BundleError when unusable."""
        if self.bundle is None:
            self.bundle = load_bundle(self.bundle_dir)
            log.info("topic %s: model bundle %s loaded (hash %s)", self.topic_id, self.bundle_dir,
                     self.bundle.content_hash[:12])
            return self.bundle
        try:
            self.bundle.verify()
        except BundleError as changed:
            previous = self.bundle.content_hash
            try:
                fresh = load_bundle(self.bundle_dir)
            except BundleError as broken:
                raise BundleError(f"{changed}; reload refused: {broken}") from broken
            self.bundle = fresh
            log.warning("topic %s: model bundle changed on disk; reloaded (hash %s -> %s)", self.topic_id,
                        previous[:12], fresh.content_hash[:12])
        return self.bundle

    def reload_bundle(self) -> None:
        """Drop the cached bundle or predictor (SIGHUP); the next cycle builds it afresh."""
        self.bundle = None
        self.other = None


def _build_other(topic: TopicSettings) -> Predictor:
    if topic.predict_url is not None:
        from allora_worker.model.predictors.http import HttpPredictor

        return HttpPredictor(topic.predict_url, topic.max_abs_value, timeout=topic.predict_timeout_seconds,
                             retries=topic.predict_retries, health_url=topic.predict_health_url,
                             check_candles=topic.check_candles)
    if topic.predictor is not None:
        from allora_worker.model.predictors.plugin import PluginPredictor

        return PluginPredictor.load(topic.predictor)
    raise BundleError(f"topic {topic.id}: no predictor configured")
