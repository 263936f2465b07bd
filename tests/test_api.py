"""The library API: its names are pinned, it never imports click, and docs/api.md's example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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
    "BuildOptions", "Fleet", "HostFacts", "HostRun", "HostSpec", "Inventory",
    "CellDone", "Event", "EventSink", "Notice", "Status", "Token", "Transfer", "ProfileDone",
    "CheckFailed", "Diagnostic", "ExitCode", "GGUFError", "InvalidInput", "ModelNotFound", "ModelctlError",
    "ModelfileError", "ProfileError", "ServerError", "ServerUnreachable", "TemplateError",
    "InventoryError", "ModelCheckFailed", "UsageProblem",
    "HostSession", "OllamaClient",
    "explain", "Explanation", "Resolution", "together", "Residency",
    "probe", "ProbeReport", "sweep", "SweepResult", "PromptTooLong",
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
