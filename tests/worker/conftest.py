from __future__ import annotations

from pathlib import Path

import pytest

from harness.daemon import quick_bundle


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return quick_bundle(tmp_path_factory.mktemp("bundle") / "topic67")
