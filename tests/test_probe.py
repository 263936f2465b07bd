"""``probe``: the largest prompt the runner takes uncut, found in a bounded number of requests
(against the double, which fits prompts as each Ollama era does), and the search itself as a
property over contexts, tokenizers and servers that do or do not count a refused prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelctl.jobs.probe import CALIBRATION_WORDS, MAX_REQUESTS, SLOT_PADDING, ProbeStep, Search
from tests.fixtures_compare import build, invoke
from tests.ollama_double import RAW_OVERHEAD, OllamaDouble


@pytest.fixture
def profiles(cmp_double: OllamaDouble, tmp_path: Path) -> Path:
    (tmp_path / "profiles").mkdir()
    for name, ctx in (("mid", 8192), ("long", 131072)):
        (tmp_path / "profiles" / f"{name}.yaml").write_text(
            f"name: {name}\nfrom: llama3.2:3b\nparameters:\n  num_ctx: {ctx}\n"
        )
    build(cmp_double, tmp_path, "mid", "long")
    return tmp_path


def _probe(double: OllamaDouble, cwd: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    before = len(double.state.calls("/api/generate"))
    r = invoke("probe", *args, "--format", "json", host=double.url, cwd=cwd)
    env = json.loads(r.stdout)
    assert env["data"] is None or env["data"]["requests"] == len(double.state.calls("/api/generate")) - before
    return r.returncode, env


@pytest.mark.parametrize(("version", "largest"), [("0.12.6", 8192), ("0.33.0", 8191)])
def test_probe_finds_the_configured_context(
    cmp_double: OllamaDouble, profiles: Path, version: str, largest: int
) -> None:
    cmp_double.state.version = version
    code, env = _probe(cmp_double, profiles, "mid")
    data = env["data"]
    assert code == 0 and data["largest_prompt_tokens"] == largest  # the Go runners take num_ctx, llama-server one less
    assert data["context"] == {"trained": 131072, "configured": 8192, "runtime": 8192}
    assert data["requests"] <= 6 and not data["bounded"]
    sent = cmp_double.state.calls("/api/generate")[-1]["json"]
    assert sent["raw"] is True and sent["truncate"] is False and sent["options"] == {"num_predict": 1}


def test_probe_of_a_128k_context_takes_few_requests(cmp_double: OllamaDouble, profiles: Path) -> None:
    cmp_double.state.version = "0.33.0"
    code, env = _probe(cmp_double, profiles, "long")
    assert code == 0 and env["data"]["largest_prompt_tokens"] == 131071 and env["data"]["requests"] <= 20


def test_probe_bounds_checks_and_the_auto_context(cmp_double: OllamaDouble, profiles: Path) -> None:
    code, env = _probe(cmp_double, profiles, "long", "--max-context", "3000", "--min-context", "2000")
    assert code == 0 and env["data"]["bounded"] and env["data"]["largest_prompt_tokens"] == 3000
    code, env = _probe(cmp_double, profiles, "mid", "--min-context", "9000")
    assert (
        code == 6
        and env["errors"][0]["code"] == "check_failed"
        and "below --min-context 9,000" in env["errors"][0]["message"]
    )
    # a model with no num_ctx runs with the server's default
    cmp_double.state.default_num_ctx = 2048
    code, env = _probe(cmp_double, profiles, "llama3.2:3b")
    assert env["data"]["largest_prompt_tokens"] == 2048 and env["data"]["context"]["configured"] is None
    r = invoke("probe", "llama3.2:3b", host=cmp_double.url, cwd=profiles)
    assert "2,048 tokens (one word more was refused)" in r.stdout and "auto (the server's default)" in r.stdout
    # --set num_ctx applies as a request option: the runner loads with it
    code, env = _probe(cmp_double, profiles, "llama3.2:3b", "--set", "num_ctx=1000")
    assert env["data"]["largest_prompt_tokens"] == 1000 and env["data"]["context"]["runtime"] == 1000


def test_probe_refuses_what_it_cannot_measure(cmp_double: OllamaDouble, profiles: Path) -> None:
    r = invoke("probe", "mid", "--min-context", "9", "--max-context", "8", host=cmp_double.url, cwd=profiles)
    assert r.returncode == 2
    cmp_double.state.version = "0.12.5"
    r = invoke("probe", "mid", host=cmp_double.url, cwd=profiles)
    assert r.returncode == 5 and "ignores `truncate`" in r.stderr and not cmp_double.state.calls("/api/generate")
    assert "upgrade Ollama to use probe" in r.stderr and "--no-truncate" not in r.stderr  # probe has no such flag


@given(
    limit=st.integers(8, 140_000),
    per_word=st.sampled_from([1.0, 1.0, 1.3, 2.0]),
    counted=st.booleans(),
    expected_off=st.sampled_from([0, 0, 1, -1, 256, -5000]),
)
def test_the_search_converges_in_tokens_within_bounded_requests(
    limit: int, per_word: float, counted: bool, expected_off: int
) -> None:
    """Whatever the runner takes (``limit`` tokens), the tokenizer's words-to-tokens rate, and
    whether refusals name the count, the search ends one word apart from the limit, within
    the request budget (about 20 for 128K when the expectation is wrong; a few when right)."""

    def send(words: int) -> ProbeStep:
        tokens = RAW_OVERHEAD + int(words * per_word)
        if tokens <= limit:
            return ProbeStep(words, tokens, True)
        return ProbeStep(words, tokens if counted else None, False)

    expected = max(1, limit + expected_off)
    search = Search(send, ceiling=expected + SLOT_PADDING, expected=expected)
    search.record(send(CALIBRATION_WORDS))
    search.run()
    n = len(search.steps)
    if search.bounded:  # the runner took the ceiling: the answer is "at least"
        assert search.lo is not None and search.lo.tokens is not None and search.lo.tokens >= expected + SLOT_PADDING
        return
    assert search.lo is None or limit - per_word - 1 < search.lo.tokens <= limit  # within a word
    assert search.hi is not None and search.hi.words == (search.lo.words if search.lo else 0) + 1
    assert n <= (6 if expected_off in (0, 1, -1) and per_word == 1.0 and limit > 40 else 21) <= MAX_REQUESTS


def test_a_search_stopped_at_its_ceiling_is_reported_at_least() -> None:
    """A runner that takes even the ceiling (--max-context, or the running context + 256) gives
    "at least" and the reason, whether or not --max-context was given."""
    from modelctl.jobs.probe import ProbeReport
    from modelctl.jobs.run import Target
    from modelctl.ollama.server import ServerInfo
    from modelctl.output.probe import largest_text

    target = Target("m", "m", "m", False, False)
    report = ProbeReport(target, ServerInfo("h", True, "0.33.0"), 8192, 4096, 4096, 4352, None, True)
    assert largest_text(report) == "at least 4,352 tokens (the search stopped there, past the running context)"
    report.max_context = 4352
    assert largest_text(report) == "at least 4,352 tokens (the search stopped at --max-context 4,352)"
