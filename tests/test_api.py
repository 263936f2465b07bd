"""The library API: its names are pinned, it never imports click, and docs/api.md's example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_double import cli_env
from tests.fixtures_gguf import write_tiny_llama
from tests.ollama_double import OllamaDouble

REPO = Path(__file__).resolve().parent.parent

EXPORTED = {
    "build", "compare", "estimate", "facts_for", "import_model", "import_modelfile", "inspect", "json_schema",
    "load_profile", "parse_modelfile", "plan", "render", "render_profile", "run", "show", "validate",
    "list_models", "loaded_models", "remove_models", "show_modelfile", "ModelList", "LoadedModels", "RemoveResult",
    "DeployedModelfile", "derive_profile", "DerivedProfile", "open_chat", "ChatSession",
    "build_hosts", "compare_hosts", "plan_hosts", "show_hosts", "validate_hosts", "load_inventory", "select_hosts",
    "BudgetResult", "BuildOutcome", "BuildResult", "CompareOptions", "Difference", "EstimateReport", "FactsSource",
    "GpuOptions", "GpuPlacement", "ImportedProfile", "LoadedProfile", "Matrix", "MemoryEstimate", "ModelFacts",
    "ModelReport", "ModelSpec", "ParamTable", "PlanResult", "Profile", "Rendered", "RunReport", "RunResult",
    "ServerInfo", "Validation",
    "BuildOptions", "PlanOptions", "Fleet", "HostFacts", "HostRun", "HostSpec", "Inventory",
    "CellDone", "Event", "EventSink", "Notice", "Status", "Token", "Transfer", "ProfileDone",
    "CheckFailed", "Diagnostic", "ExitCode", "GGUFError", "InvalidInput", "ModelNotFound", "ModelctlError",
    "ModelfileError", "ProfileError", "ServerError", "ServerUnreachable", "TemplateError",
    "InventoryError", "ModelCheckFailed", "UsageProblem",
    "HostSession", "OllamaClient",
    "explain", "Explanation", "Resolution", "together", "Residency",
    "probe", "ProbeReport", "sweep", "SweepResult", "PromptTooLong",
    "push_models", "PushResult", "outdated", "OutdatedResult", "manifest_digest",
    "Ollama", "compare_table", "compare_runs", "JobResult",
    "EstimateOptions", "RunOptions", "ProbeOptions", "ValidateOptions", "ImportOptions", "PushOptions",
    "RegistrySpec",
}  # fmt: skip


def test_exported_names_are_pinned() -> None:
    from modelctl import api

    assert set(api.__all__) == EXPORTED
    assert len(api.__all__) == len(EXPORTED)
    for name in api.__all__:
        assert getattr(api, name) is not None, name


def test_jobs_are_the_ones_the_commands_call() -> None:
    """One implementation: the API hands out the same functions the CLI's commands call."""
    from modelctl import api
    from modelctl.jobs import build, compare, estimate, run, show, validate

    assert api.build is build.build and api.show is show.show and api.run is run.run
    assert api.compare is compare.compare and api.estimate is estimate.estimate
    assert api.validate is validate.validate
    from modelctl.jobs import fleet, lint

    assert api.build_hosts is fleet.build_hosts and api.plan_hosts is fleet.plan_hosts
    assert api.show_hosts is fleet.show_hosts and api.compare_hosts is fleet.compare_hosts
    assert api.validate_hosts is lint.validate_hosts
    from modelctl.jobs import explain, residency

    assert api.explain is explain.explain and api.together is residency.together


def test_the_api_works_without_click(tmp_path: Path) -> None:
    """With click made unimportable, the library imports and its offline jobs run.

    (httpx imports click for its own command line when it can; that is httpx's business.)
    """
    write_tiny_llama(tmp_path / "tiny.gguf")
    (tmp_path / "p.yaml").write_text("from: ./tiny.gguf\nparameters: {num_ctx: 1024}\n", encoding="utf-8")
    code = (
        "import sys; sys.modules['click'] = None\n"
        "from modelctl import api\n"
        "assert not [m for m in sys.modules if m.startswith(('modelctl.cli', 'modelctl.commands'))]\n"
        "print(api.render_profile('p.yaml').spec.parameters, api.estimate('p.yaml').memory.num_ctx)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=cli_env(None), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["{'num_ctx':", "1024}", "1024"]


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)


def test_the_walk_through_in_docs_api_md_runs(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    page = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    (tmp_path / "chef.yaml").write_text(_blocks(page, "yaml")[0], encoding="utf-8")
    write_tiny_llama(tmp_path / "tiny.gguf")
    script = _blocks(page, "python")[-1]
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=cli_env(ollama_double.url), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "PARAMETER num_ctx 2048" or lines[0].startswith(("PARAMETER", "SYSTEM"))
    arch, trained, total = lines[1].split()
    assert (arch, trained) == ("llama", "4096") and int(total) > 0
    assert ".. creating model" in lines and "chef created" in lines
    assert "F16 2048" in lines
    assert lines[-2].endswith("tokens") and int(lines[-2].split()[0]) > 0
    assert lines[-1].startswith("5 ") and "no-such-model" in lines[-1]


#: The session object's jobs: every command that talks to one server.
OLLAMA_METHODS = {
    "build", "plan", "import_model", "show", "show_modelfile", "ls", "ps", "rm", "run", "chat", "compare_table",
    "compare_runs", "sweep", "probe", "estimate", "explain", "together", "facts",
}  # fmt: skip


def test_the_session_object_offers_the_jobs() -> None:
    from modelctl import api

    methods = {n for n in vars(api.Ollama) if not n.startswith("_") and callable(getattr(api.Ollama, n))}
    assert methods == OLLAMA_METHODS
    ollama = api.Ollama("http://127.0.0.1:1", timeout=3)
    assert (ollama.host, ollama.timeout) == ("http://127.0.0.1:1", 3)


def test_one_result_type_per_call() -> None:
    """Every call returns one type (compare: the command's dispatcher; compare_table and
    compare_runs are its two shapes), and every job result says its exit code one way."""
    import inspect

    from modelctl import api

    calls = [getattr(api.Ollama, n) for n in OLLAMA_METHODS]
    calls += [getattr(api, n) for n in api.__all__ if n[0].islower() and n != "compare"]
    for call in calls:
        returns = str(inspect.signature(call).return_annotation)
        assert "|" not in returns and "Union" not in returns, f"{call.__qualname__} -> {returns}"
    assert str(inspect.signature(api.compare_table).return_annotation) == "ParamTable"
    assert str(inspect.signature(api.compare_runs).return_annotation) == "Matrix"


def test_the_session_object_runs_each_job_and_each_result_says_its_exit_code(
    ollama_double: OllamaDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelctl import api, errors

    monkeypatch.chdir(tmp_path)
    write_tiny_llama(tmp_path / "tiny.gguf")
    (tmp_path / "chef.yaml").write_text("name: chef\nfrom: ./tiny.gguf\nparameters: {num_ctx: 2048}\n")
    ranked: list[list[api.ExitCode]] = []
    rule = errors.overall_exit_code
    monkeypatch.setattr(errors, "overall_exit_code", lambda codes: rule(ranked.append(list(codes)) or ranked[-1]))
    ollama = api.Ollama(ollama_double.url, timeout=30)
    results: list[api.JobResult] = [
        ollama.plan(["chef.yaml"]),
        ollama.build(["chef.yaml"], api.BuildOptions(verify=True)),
        ollama.show("chef"),
        ollama.show_modelfile("chef"),
        ollama.ls(["chef.yaml"]),
        ollama.ps(),
        ollama.compare_table(["chef.yaml"]),
        ollama.compare_runs(["chef.yaml"], api.CompareOptions(prompts=["Soup?"])),
        ollama.run("chef", "Soup?"),
        ollama.estimate("chef.yaml", api.EstimateOptions(num_ctx=4096)),
        ollama.rm(["chef"], dry_run=True),
    ]
    codes = [r.exit_code() for r in results]
    assert codes[0] == api.ExitCode.DRIFT  # not built yet: plan's drift, 3
    assert codes[1:] == [api.ExitCode.OK] * (len(results) - 1)
    assert len(ranked) == len(results)  # each through the one rule
    assert ollama.plan(["chef.yaml"]).exit_code() == api.ExitCode.OK  # each call asks afresh: now in sync
    with pytest.raises(api.UsageProblem):
        ollama.compare_table(["chef.yaml"], api.CompareOptions(prompts=["Soup?"]))
    with pytest.raises(api.UsageProblem):
        ollama.compare_runs(["chef.yaml"], api.CompareOptions())
