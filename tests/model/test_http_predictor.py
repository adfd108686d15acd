"""The HTTP predictor against a real server process on loopback: honest answers, lies, hangs."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from allora_worker.model.predictors import PredictorError
from allora_worker.model.predictors.http import HttpPredictor, parse_value
from tests.model.http_support import InferenceServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    srv = InferenceServer(tmp_path_factory.mktemp("inference"))
    yield srv
    srv.stop()


def test_basic_node_bare_number_and_json_are_read(server: InferenceServer) -> None:
    predictor = HttpPredictor(server.url, 1.0, timeout=5.0, retries=0, health_url=server.health_url)
    server.set_mode("number:-0.0123")
    predictor.check()
    assert predictor.predict(None) == -0.0123
    server.set_mode("json:0.045")
    assert predictor.predict(None) == 0.045
    assert predictor.history_hours == 0 and predictor.content_hash.startswith("http:")


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("nan", "not a finite number"),
        ("huge", "beyond the topic's bound ±1.0"),
        ("html", "an HTML page, not a number"),
        ("error", "HTTP 500"),
    ],
)
def test_a_lying_endpoint_is_refused_in_one_line(server: InferenceServer, mode: str, said: str) -> None:
    server.set_mode(mode)
    with pytest.raises(PredictorError, match=said) as err:
        HttpPredictor(server.url, 1.0, timeout=5.0, retries=0).predict(None)
    assert "\n" not in str(err.value)


def test_a_hung_endpoint_gives_up_at_the_deadline(server: InferenceServer) -> None:
    server.set_mode("hang")
    predictor = HttpPredictor(server.url, 1.0, timeout=0.5, retries=1)
    started = time.monotonic()
    with pytest.raises(PredictorError, match=r"no answer within 0\.5 s \(gave up after"):
        predictor.predict(None)
    assert time.monotonic() - started < 10  # two 0.5 s attempts and a 0.5 s wait, with load margin


def test_server_errors_are_retried_a_bounded_number_of_times(server: InferenceServer) -> None:
    server.set_mode("flaky:2")
    assert HttpPredictor(server.url, 1.0, timeout=5.0, retries=2).predict(None) > 0
    server.set_mode("flaky:5")
    with pytest.raises(PredictorError, match="HTTP 500"):
        HttpPredictor(server.url, 1.0, timeout=5.0, retries=2).predict(None)
    attempts = [s for s in server.served() if s["mode"] == "flaky:5"]
    assert len(attempts) == 3  # one ask and two retries, no more


def test_health_probe_failure_and_unreachable_endpoint(server: InferenceServer, tmp_path: Path) -> None:
    server.set_mode("unhealthy")
    with pytest.raises(PredictorError, match=r"health probe .* answered HTTP 503"):
        HttpPredictor(server.url, 1.0, health_url=server.health_url).check()
    with pytest.raises(PredictorError, match="cannot connect"):
        HttpPredictor("http://127.0.0.1:9/inference/BTC", 1.0, timeout=1.0, retries=0).predict(None)


@pytest.mark.parametrize(
    ("body", "value"),
    [("0.5", 0.5), ("-1e-3\n", -0.001), ('{"inference": "0.25"}', 0.25), ("3", 3.0), ('{"prediction": 2}', 2.0)],
)
def test_parse_value_accepts_what_the_basic_node_and_json_servers_send(body: str, value: float) -> None:
    assert parse_value(body) == value


@pytest.mark.parametrize("body", ["", "inf", "true", '{"error": "Token not supported"}', "[1, 2]", "abc"])
def test_parse_value_refuses_everything_else(body: str) -> None:
    with pytest.raises(PredictorError):
        parse_value(body)


def test_evaluate_replays_history_through_the_endpoint(server: InferenceServer, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from allora_worker.cli import app

    server.set_mode("seq")
    res = CliRunner().invoke(app, ["evaluate", "--predict-url", server.url, "--data", "bundled:binance",
                                   "--from", "2021-01-01", "--to", "2021-02-01", "--every", "24", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output.strip().splitlines()[-1])
    assert doc["rows"] == 31 and set(doc["metrics"]) == {"model", "zero", "drift", "momentum", "ewma"}
    asked = [s for s in server.served() if s["mode"] == "seq"][-31:]
    # Each replayed hour was asked once, in order, and answered its own value -(day/1000 + hour/1e5).
    days = [round(-float(str(s["body"])) * 1000) for s in asked]
    assert days == list(range(1, 32))


def test_evaluate_with_a_plugin_scores_it_against_the_baselines(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from allora_worker.cli import app
    from tests.model.plugin_support import install_demo_plugin

    monkeypatch.syspath_prepend(str(install_demo_plugin(tmp_path / "site")))
    try:
        res = CliRunner().invoke(app, ["evaluate", "--predictor", "half-day-momentum", "--data", "bundled:binance",
                                       "--from", "2021-01-01", "--to", "2021-03-01", "--json"])
    finally:
        for name in [m for m in sys.modules if m.startswith("demo_predictor")]:
            del sys.modules[name]
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output.strip().splitlines()[-1])
    assert doc["rows"] == 59 and doc["metrics"]["model"]["mse"] != doc["metrics"]["zero"]["mse"]


def test_a_token_in_the_url_never_reaches_a_message(server: InferenceServer) -> None:
    port = server.port
    url = f"http://user:s3cr3t-pass@127.0.0.1:{port}/inference/BTC?api_key=s3cr3t-key"
    server.set_mode("nan")
    predictor = HttpPredictor(url, 1.0, timeout=5.0, retries=0)
    with pytest.raises(PredictorError) as err:
        predictor.predict(None)
    shown = str(err.value) + predictor.describe()
    assert f"http://127.0.0.1:{port}/inference/BTC?…" in shown
    assert "s3cr3t" not in shown and "user" not in shown
