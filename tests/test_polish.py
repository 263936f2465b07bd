"""Polish: tables never cut a value twice, the matrix lines its measures up, compare's HTML (from
its template) shows the parameters first with no literal backticks or empty rows, and
``estimate --budget`` gives the largest multiple of 1024 too."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from modelctl.output.text import Table, _cut
from tests.fixtures_compare import invoke
from tests.fixtures_gguf import write_big_header_gguf
from tests.ollama_double import OllamaDouble


def test_a_shortened_value_is_cut_where_it_was_cut_keeping_what_follows() -> None:
    cell = "You are a creative chef. Propose unexpe… (107 chars)"
    assert _cut(cell, 30) == "You are a creativ… (107 chars)"
    assert _cut(cell, 10) == "You are a…"
    assert _cut("plain words", 6) == "plain…"


@given(st.text(alphabet="ab …(", max_size=40), st.integers(min_value=1, max_value=45))
def test_a_cut_cell_fits_and_has_at_most_one_ellipsis_more(cell: str, width: int) -> None:
    out = _cut(cell, width)
    assert len(out) <= max(width, 1)
    assert out.count("…") <= max(cell.count("…"), 1)


@given(
    st.lists(st.lists(st.text(alphabet="ab -", max_size=30), min_size=3, max_size=3), max_size=6),
    st.integers(min_value=13, max_value=120),
)
def test_terminal_tables_fit_the_terminal(rows: list[list[str]], width: int) -> None:
    t = Table(("one", "two", "three"), rows)
    widths = t.widths(width)
    natural = [max(len(c) for c in col) for col in zip(("one", "two", "three"), *rows, strict=False)]
    assert sum(widths) + 4 <= width  # two spaces between columns, as in the plain table
    if sum(natural) + 4 <= width:
        assert widths == natural  # the plain layout when it fits


def test_the_matrix_lines_up_the_measures_of_every_column(built_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke(
        "compare", "creative", "precise", "wide", "--prompt", "Convert 350F to C", "--prompt", "hi",
        host=built_double.url, cwd=chef_dir,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if "tok/s" in line and "│" in line]
    assert lines and all(line.count("tok/s") == 3 for line in lines), r.stdout  # one row carries all three


def test_compare_html_shows_the_parameters_first_without_backticks_or_empty_rows(
    built_double: OllamaDouble, chef_dir: Path
) -> None:
    page = chef_dir / "report.html"
    r = invoke(
        "compare", "creative", "precise", "--prompt", "Soup?", "-o", str(page), host=built_double.url, cwd=chef_dir
    )
    assert r.returncode == 0, r.stderr
    html = page.read_text(encoding="utf-8")
    assert html.index('class="params"') < html.index("<h2>Summary</h2>")
    assert "`" not in html and "<code>extends</code>" in html
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        assert any(c not in ("", "-") for c in cells[1:]) or not cells[1:], row


def test_budget_gives_the_largest_multiple_of_1024(tmp_path: Path) -> None:
    model = write_big_header_gguf(tmp_path / "llama3-8b.gguf")
    r = invoke("estimate", str(model), "--budget", "5.55GiB", "--format", "json")
    budget = json.loads(r.stdout)["data"]["budget"]
    assert budget["num_ctx_1024"] == budget["num_ctx"] // 1024 * 1024 and budget["num_ctx_1024"] % 1024 == 0
    assert budget["total_1024_bytes"] <= budget["budget_bytes"]
    r = invoke("estimate", str(model), "--budget", "5.55GiB")
    assert f"largest multiple of 1024: {budget['num_ctx_1024']:,}" in r.stdout
