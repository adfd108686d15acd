"""The backtest report's HTML page: the Markdown it writes, rendered by markdown-it-py."""

from __future__ import annotations

from allora_worker.model.report import markdown_to_html

REPORT_SHAPES = """# Backtest

| model | ZPTAE |
|---|---:|
| zero | 0.45142 |

- 11 folds of 90 days

![rolling error](rolling_error.png)

A note with <script>alert(1)</script> & an ampersand.
"""


def test_tables_lists_images_and_headings_render_and_raw_html_is_escaped() -> None:
    page = markdown_to_html(REPORT_SHAPES)
    assert page.startswith("<!doctype html>")
    assert "<h1>Backtest</h1>" in page
    # A real table: a header row of <th>, alignment kept.
    assert "<th>model</th>" in page and '<td style="text-align:right">0.45142</td>' in page
    assert "<li>11 folds of 90 days</li>" in page
    assert '<img src="rolling_error.png" alt="rolling error"' in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; an ampersand" in page
