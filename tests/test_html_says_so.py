"""The HTML reports say what the text says (no browser needed: the page's text is read as HTML):
estimate's page names the profile, gives the largest context that fits a budget and explains its red
cells; compare's page says when --seeds replaced the profiles' seed in the runs."""

from __future__ import annotations

import html
import re
from pathlib import Path

from tests.fixtures_compare import invoke
from tests.fixtures_double import run_cli
from tests.fixtures_gguf import write_tiny_llama
from tests.ollama_double import OllamaDouble


def _text(page: str) -> str:
    """The words a reader sees: no tags, no inline SVG, no style, entities decoded, spaces collapsed."""
    page = re.sub(r"<(svg|style)\b.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_estimate_page_names_the_profile_the_fit_and_its_red_cells(tmp_path: Path) -> None:
    write_tiny_llama(tmp_path / "tiny.gguf")
    (tmp_path / "tiny.yaml").write_text("name: tiny-chef\nfrom: ./tiny.gguf\nparameters: {num_ctx: 2048}\n")
    text_run = run_cli("estimate", "tiny.yaml", "--budget", "4MiB", "--table", cwd=tmp_path)
    html_run = run_cli("estimate", "tiny.yaml", "--budget", "4MiB", "--table", "-o", "e.html", "--format", "html",
                       cwd=tmp_path)  # fmt: skip
    assert text_run.returncode == 0 and html_run.returncode == 0, html_run.stderr
    fits = next(ln.strip() for ln in text_run.stdout.splitlines() if "largest num_ctx that fits" in ln)
    page = (tmp_path / "e.html").read_text(encoding="utf-8")
    words = _text(page)
    assert fits in words  # the same sentence as the text: the largest context that fits
    assert "Budget 4.00 MiB (4,194,304 bytes), KV f16, 1 slot(s)" in words
    assert "profile tiny.yaml (model tiny-chef, from ./tiny.gguf)" in words
    assert "modelctl estimate — tiny-chef" in words and "model     tiny-chef" in text_run.stdout
    assert 'class="over"' in page and "in red: over the budget of 4.00 MiB (--budget)" in words


def test_estimate_page_without_a_budget_has_no_red_legend(tmp_path: Path) -> None:
    write_tiny_llama(tmp_path / "tiny.gguf")
    r = run_cli("estimate", "tiny.gguf", "--table", "--format", "html", "-o", "e.html", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    words = _text((tmp_path / "e.html").read_text(encoding="utf-8"))
    assert "in red" not in words and "Budget" not in words and "profile " not in words


def test_compare_page_says_seeds_replaced_the_profiles_seed(built_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke("compare", "creative", "precise", "--prompt", "Soup?", "--seeds", "1,2", "-o", "r.html",
               host=built_double.url, cwd=chef_dir)  # fmt: skip
    assert r.returncode == 0, r.stderr
    words = _text((chef_dir / "r.html").read_text(encoding="utf-8"))
    assert "seed: every run used --seeds 1, 2, not the profiles' own seed shown here" in words
    row = words[words.index("seed ≠ 42") :]  # the seed row: creative's 42, precise's 7, each marked
    assert row.startswith("seed ≠ 42 replaced by --seeds in the runs 7 replaced by --seeds in the runs"), row[:120]
    r = invoke("compare", "creative", "precise", "--prompt", "Soup?", "-o", "plain.html",
               host=built_double.url, cwd=chef_dir)  # fmt: skip
    assert "--seeds" not in _text((chef_dir / "plain.html").read_text(encoding="utf-8"))
