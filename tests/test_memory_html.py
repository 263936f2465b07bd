"""``estimate --format html``: the chart of total memory against num_ctx, in headless Chromium:
no console errors, everything shown, and the only request is the file itself.

Skipped, with the reason, when Chromium is not installed; CI installs Debian's `chromium`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fixtures_compare import Chromium
from tests.fixtures_double import run_cli
from tests.fixtures_gguf import write_big_header_gguf, write_tiny_gguf


def _eval(browser: Chromium, expression: str) -> Any:
    return browser.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"]["value"]


def test_chart_renders_offline_with_budget_trained_context_and_gpu(tmp_path: Path, chromium: Chromium) -> None:
    model = write_big_header_gguf(tmp_path / "llama3-8b.gguf")  # trained for 8192 tokens
    page = tmp_path / "memory.html"
    args = ("estimate", str(model), "--budget", "5.5GiB", "--gpu-memory", "6GiB", "--format", "html", "-o", str(page))
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    url = page.resolve().as_uri()
    chromium.open(url)
    assert chromium.console_errors() == []
    assert chromium.requests() == [url]  # no stylesheet, font, image or script fetched
    text = chromium.text()
    needles = ("Llama-3-8B header replica", "f16 KV", "q8_0 KV", "q4_0 KV", "budget 5.50 GiB", "trained 8,192")
    needles += ("num_ctx", "KV cache", "compute buffer", "Assumptions", "partial offload")
    for needle in needles:
        assert needle in text, needle
    # one line per KV type, a point per context size (2K, 4K, 8K), the budget and the marks
    assert _eval(chromium, "document.querySelectorAll('svg polyline.series').length") == 3
    assert _eval(chromium, "document.querySelectorAll('svg circle').length") == 9
    assert _eval(chromium, "document.querySelectorAll('svg line.budget').length") == 1
    assert _eval(chromium, "document.querySelectorAll('svg line.trained').length") == 1
    assert _eval(chromium, "document.querySelectorAll('svg line.gpu').length") == 1
    # the table under the chart has a row per context size, with cells over the budget marked
    assert _eval(chromium, "document.querySelectorAll('table')[1].querySelectorAll('tbody tr, tr').length") >= 4
    assert _eval(chromium, "document.querySelectorAll('td.over').length") >= 1
    # it lays out: the chart has its size and the lines go up to the right (more memory)
    box = _eval(chromium, "JSON.stringify(document.querySelector('svg').getBoundingClientRect())")
    assert json.loads(box)["width"] >= 800
    ys = _eval(
        chromium,
        "Array.from(document.querySelector('polyline[data-kv=f16]').points).map(p => p.y)",
    )
    assert ys == sorted(ys, reverse=True)  # SVG y grows downwards


def test_chart_escapes_the_model_name_and_needs_no_table_flag(tmp_path: Path, chromium: Chromium) -> None:
    model = write_tiny_gguf(tmp_path / "t.gguf", name="<b>tiny</b> & co", context_length=2048)
    page = tmp_path / "t.html"
    r = run_cli("estimate", str(model), "--format", "html", "-o", str(page))
    assert r.returncode == 0, r.stderr
    chromium.open(page.resolve().as_uri())
    assert chromium.console_errors() == []
    assert "<b>tiny</b> & co" in chromium.text()
    assert _eval(chromium, "document.querySelectorAll('h1 b').length") == 0
    # a single context size (the trained 2048): still three series of one point each
    assert _eval(chromium, "document.querySelectorAll('svg circle').length") == 3
