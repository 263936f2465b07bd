"""One home for the verdict: every job's result says its exit code through errors.JobResult, one
rule (errors.overall_exit_code over the codes of what happened in it); the CLI's writers read it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelctl import api, errors
from modelctl.errors import ExitCode, JobResult, ModelCheckFailed, ServerError, ServerUnreachable
from modelctl.jobs.matrix import Matrix
from modelctl.jobs.table import ParamTable
from modelctl.ollama.server import ServerInfo
from tests.fixtures_compare import build
from tests.ollama_double import OllamaDouble

#: The result type of every job the library hands out.
RESULTS = [
    api.BuildResult, api.PlanResult, api.ModelReport, api.DeployedModelfile, api.ParamTable, api.Matrix,
    api.SweepResult, api.RunReport, api.EstimateReport, api.Explanation, api.Residency, api.ProbeReport,
    api.Validation, api.ModelList, api.LoadedModels, api.RemoveResult, api.Rendered, api.ImportedProfile,
    api.DerivedProfile, api.Fleet,
]  # fmt: skip


@pytest.mark.parametrize("result", RESULTS, ids=[r.__name__ for r in RESULTS])
def test_every_result_says_its_exit_code_by_the_one_rule(result: type) -> None:
    assert issubclass(result, JobResult)
    assert result.exit_code is JobResult.exit_code  # no result computes its own code


def test_exit_code_is_the_precedence_of_the_outcome_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[ExitCode]] = []
    rule = errors.overall_exit_code

    def spy(codes: Any) -> ExitCode:
        seen.append(list(codes))
        return rule(seen[-1])

    monkeypatch.setattr(errors, "overall_exit_code", spy)

    class Two(JobResult):
        def outcome_codes(self) -> list[ExitCode]:
            return [ExitCode.DRIFT, ExitCode.SERVER, ExitCode.CHECK]

    assert Two().exit_code() == ExitCode.SERVER  # by PRECEDENCE, not the largest code
    assert seen == [[ExitCode.DRIFT, ExitCode.SERVER, ExitCode.CHECK]]
    assert JobResult().exit_code() == ExitCode.OK


def _matrix(**kw: Any) -> Matrix:
    return Matrix(targets=[], cases=[], seeds=[None], repeat=1, parallel=1, cells=[], server=ServerInfo("h"), **kw)


def test_a_matrix_says_what_the_cli_exits_with() -> None:
    assert _matrix().exit_code() == ExitCode.OK
    assert _matrix(interrupted=True, aborted=ServerError("x")).exit_code() == ExitCode.INTERRUPTED
    assert _matrix(aborted=ServerUnreachable("gone")).exit_code() == ExitCode.UNREACHABLE
    assert _matrix(aborted=ModelCheckFailed("no")).codes_judged(True) == [ExitCode.CHECK, ExitCode.CHECK]


def test_a_fleet_ranks_its_hosts_results(cmp_double: OllamaDouble, tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("name: m\nfrom: llama3.2:3b\n", encoding="utf-8")
    fleet = api.compare_hosts(
        [str(tmp_path / "m.yaml")], hosts=[cmp_double.url, cmp_double.url.replace("127.0.0.1", "localhost")]
    )
    assert [type(r.result) for r in fleet.runs] == [ParamTable, ParamTable]
    assert fleet.exit_code() == ExitCode.OK
    table = fleet.runs[1].result
    assert table is not None
    table.server_code = ExitCode.SERVER  # what a failing host's server did counts on a host of several
    assert table.exit_code() == ExitCode.SERVER and fleet.exit_code() == ExitCode.SERVER


def test_api_compare_results_carry_the_verdict(cmp_double: OllamaDouble, tmp_path: Path) -> None:
    """A library caller of compare gets the exit code the command line would end with."""
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "cc.yaml").write_text("name: cc\nfrom: llama3.2:3b\n", encoding="utf-8")
    build(cmp_double, tmp_path, "cc")
    ref = str(tmp_path / "profiles" / "cc.yaml")
    table = api.compare([ref], host=cmp_double.url)
    assert isinstance(table, ParamTable) and table.exit_code() == ExitCode.OK
    failing = api.CompareOptions(prompts=["Say hi"], min_pass_rate=1.0)
    (tmp_path / "p.yaml").write_text("- prompt: Say hi\n  expect:\n    contains: zzz-never-said\n", encoding="utf-8")
    matrix = api.compare([ref], api.CompareOptions(prompts_file=str(tmp_path / "p.yaml")), host=cmp_double.url)
    assert isinstance(matrix, Matrix) and matrix.checks_failed and matrix.exit_code() == ExitCode.CHECK
    assert api.compare([ref], failing, host=cmp_double.url).exit_code() == ExitCode.OK  # no assertions: no check
