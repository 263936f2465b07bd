"""Work a command line asks for is bounded before anything is sent: the `compare --sweep` grid
(MODELCTL_MAX_SWEEP_SETTINGS) and the members of `estimate --together` (MODELCTL_MAX_TOGETHER),
each an exit 1 with one line naming the variable, before a file is read or a request made."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from modelctl.common.limits import SWEEP_SETTINGS, TOGETHER_MEMBERS
from modelctl.errors import InvalidInput
from modelctl.jobs.estimate import EstimateOptions
from modelctl.jobs.residency import together
from modelctl.jobs.sweep import parse_axes
from tests.fixtures_double import run_cli
from tests.fixtures_hostile import HANG, assert_refused
from tests.ollama_double import OllamaDouble


def values(n: int, scale: float) -> str:
    return ",".join(f"{i * scale:.6f}" for i in range(n))


def test_a_billion_setting_grid_is_refused_before_it_is_built() -> None:
    specs = [f"temperature={values(1000, 0.001)}", f"top_p={values(1000, 0.001)}", f"min_p={values(1000, 0.001)}"]
    start = time.perf_counter()
    with pytest.raises(InvalidInput, match=r"MODELCTL_MAX_SWEEP_SETTINGS") as info:
        parse_axes(specs)
    assert time.perf_counter() - start < HANG
    assert "1,000,000 settings" in info.value.message and info.value.field == "--sweep"


def test_one_axis_over_the_cap_is_refused_before_its_values_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SWEEP_SETTINGS.env, "3")
    with pytest.raises(InvalidInput, match="4 settings") as info:
        parse_axes(["seed=1,2,3,x"])  # `x` is never parsed: the count is refused first
    assert info.value.field == "--sweep seed"
    monkeypatch.setenv(SWEEP_SETTINGS.env, "4")
    assert len(parse_axes(["seed=1,2", "temperature=0.1,0.2"])) == 2  # the override raises the cap


def test_compare_sweep_over_the_cap_sends_nothing(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    (tmp_path / "p.yaml").write_text("from: llama3.2:3b\n", encoding="utf-8")
    args = ("compare", "p.yaml", "--sweep", "temperature=0.1,0.5,0.9", "--sweep", "top_p=0.5,0.9", "--prompt", "hi")
    before = len(ollama_double.state.requests)
    proc = run_cli(*args, host=ollama_double.url, cwd=tmp_path, env={SWEEP_SETTINGS.env: "5"}, timeout=HANG)
    assert_refused(proc, 1, "--sweep", "6 settings", "MODELCTL_MAX_SWEEP_SETTINGS")
    assert len(ollama_double.state.requests) == before


def test_estimate_together_over_the_cap_sends_nothing(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.yaml").write_text("from: llama3.2:3b\n", encoding="utf-8")
    before = len(ollama_double.state.requests)
    proc = run_cli(
        "estimate", "a.yaml", "b.yaml", "c.yaml", "--together",
        host=ollama_double.url, cwd=tmp_path, env={TOGETHER_MEMBERS.env: "2"}, timeout=HANG,
    )  # fmt: skip
    assert_refused(proc, 1, "--together", "3 profiles", "at most 2", "MODELCTL_MAX_TOGETHER")
    assert len(ollama_double.state.requests) == before


def test_four_thousand_members_are_refused_at_once(tmp_path: Path) -> None:
    refs = [str(tmp_path / f"p{i}.yaml") for i in range(4000)]
    start = time.perf_counter()
    with pytest.raises(InvalidInput, match="4,000 profiles") as info:
        together(refs, EstimateOptions(no_server=True))
    assert time.perf_counter() - start < 1.0 and "MODELCTL_MAX_TOGETHER" in info.value.message
