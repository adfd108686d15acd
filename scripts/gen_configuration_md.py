"""Write docs/CONFIGURATION.md from the settings model (tests/cli/test_config_reference.py fails when it is stale)."""

from pathlib import Path

from allora_worker.config_reference import render_markdown

TARGET = Path(__file__).resolve().parents[1] / "docs" / "CONFIGURATION.md"

if __name__ == "__main__":
    TARGET.write_text(render_markdown(), encoding="utf-8")
    print(f"wrote {TARGET}")
