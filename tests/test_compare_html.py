"""The HTML reports in headless Chromium: they render without console errors, show every
profile and prompt, and make no network request (the only request is the file itself).

Skipped, with the reason, when Chromium is not installed; CI installs Debian's `chromium`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fixtures_compare import Chromium, invoke
from tests.ollama_double import OllamaDouble


def _eval(browser: Chromium, expression: str) -> Any:
    return browser.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"]["value"]


def test_matrix_report_renders_offline(built_double: OllamaDouble, chef_dir: Path, chromium: Chromium) -> None:
    # An assertion fails on purpose, so the report shows failures too (exit 1).
    (chef_dir / "prompts.yaml").write_text(
        "- name: dessert\n  prompt: Give me a <b>dessert</b> idea & more\n  expect: {contains: '.'}\n"
        "- prompt: Convert 350F to Celsius\n  expect: {contains: zzz-never}\n",
        encoding="utf-8",
    )
    report = chef_dir / "report.html"
    r = invoke(
        "compare", "creative", "precise", "wide", "--prompts", "prompts.yaml", "--seeds", "1,2",
        "-o", str(report), host=built_double.url, cwd=chef_dir,
    )  # fmt: skip
    assert r.returncode == 6, r.stderr
    url = report.resolve().as_uri()
    chromium.open(url)
    assert chromium.console_errors() == []
    assert chromium.requests() == [url]  # no stylesheet, font, image or script fetched
    text = chromium.text()
    for needle in ("chef-creative", "chef-precise", "chef-wide", "dessert", "Convert 350F to Celsius",
                   "Give me a <b>dessert</b> idea & more", "seed 1", "seed 2", "Median tokens/s",
                   "Assertion pass rate"):  # fmt: skip
        assert needle in text, needle
    # user text is escaped, never interpreted as markup
    assert _eval(chromium, "document.querySelectorAll('.prompt b, .cell b').length") == 0
    # side by side: one grid column per profile
    assert _eval(chromium, "document.querySelector('.grid').children.length") == 3
    # the charts: a bar per profile in each of the two inline SVGs
    assert _eval(chromium, "document.querySelectorAll('svg').length") == 2
    assert _eval(chromium, "document.querySelectorAll('svg rect[fill=\"#3867d6\"]').length") == 3
    assert _eval(chromium, "document.querySelectorAll('.fail').length") > 0
    # it lays out: the page has a real size and the outputs are visible
    assert _eval(chromium, "document.body.scrollHeight") > 500
    assert _eval(chromium, "getComputedStyle(document.querySelector('pre')).display") == "block"


def test_table_report_renders_offline(built_double: OllamaDouble, chef_dir: Path, chromium: Chromium) -> None:
    report = chef_dir / "table.html"
    r = invoke("compare", "creative", "precise", "qwen", "-o", str(report), host=built_double.url, cwd=chef_dir)
    assert r.returncode == 0, r.stderr
    url = report.resolve().as_uri()
    chromium.open(url)
    assert chromium.console_errors() == []
    assert chromium.requests() == [url]
    text = chromium.text()
    for needle in ("chef-creative", "chef-precise", "qwen-plain", "temperature", "quantization", "Q4_K_M"):
        assert needle in text, needle
    assert _eval(chromium, "document.querySelectorAll('tr.differs').length") > 3
