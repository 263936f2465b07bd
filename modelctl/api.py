"""modelctl as a library: every command's job as a function that returns a typed result.

    from modelctl import api
    facts = api.inspect("model.gguf")
    memory = api.estimate(facts, num_ctx=8192, kv_type="q8_0").memory
    print(memory.total_bytes)

Each function here is the one the command line calls: it returns data (dataclasses and
pydantic models, with ``to_dict()`` giving the JSON the CLI prints), raises
:class:`ModelctlError` subclasses (each carrying the CLI's exit code), never prints and never
imports click. Long jobs (``build``, ``run``, ``compare`` with prompts) report progress and
streamed tokens through the ``on_event`` callable they take (see :mod:`modelctl.common.events`).
docs/api.md has a walk-through; tests/test_api.py pins the names below.

Importing this module loads everything the jobs need (pydantic, jinja2, httpx); the CLI
imports each job on its own instead, so one command pays only for what it uses.
"""

from __future__ import annotations

from pathlib import Path

from modelctl.common.events import CellDone, Event, EventSink, Notice, ProfileDone, Status, Token, Transfer
from modelctl.errors import (
    CheckFailed,
    Diagnostic,
    ExitCode,
    GGUFError,
    InvalidInput,
    ModelCheckFailed,
    ModelctlError,
    ModelfileError,
    ProfileError,
    ServerError,
    ServerUnreachable,
    TemplateError,
    UsageProblem,
)
from modelctl.jobs.build import BuildOptions, BuildOutcome, BuildResult, build
from modelctl.jobs.chat import ChatSession, open_chat
from modelctl.jobs.compare import CompareOptions, compare
from modelctl.jobs.drift import Difference
from modelctl.jobs.estimate import EstimateReport, FactsSource, GpuOptions, estimate, facts_for
from modelctl.jobs.explain import Explanation, explain
from modelctl.jobs.fleet import Fleet, HostRun, build_hosts, compare_hosts, plan_hosts, show_hosts
from modelctl.jobs.housekeeping import LoadedModels, ModelList, RemoveResult, list_models, loaded_models, remove_models
from modelctl.jobs.lint import validate_hosts
from modelctl.jobs.matrix import Matrix
from modelctl.jobs.model_import import import_model
from modelctl.jobs.plan import PlanResult, plan
from modelctl.jobs.probe import ProbeReport, probe
from modelctl.jobs.profiles import load_profile, render_profile
from modelctl.jobs.residency import Residency, together
from modelctl.jobs.run import RunReport, RunResult, run
from modelctl.jobs.show import DeployedModelfile, ModelReport, show, show_modelfile
from modelctl.jobs.sweep import SweepResult, sweep
from modelctl.jobs.table import ParamTable
from modelctl.jobs.validate import Validation, validate
from modelctl.memory.effective import Resolution
from modelctl.memory.facts import ModelFacts, facts_from_gguf
from modelctl.memory.memory import BudgetResult, MemoryEstimate
from modelctl.memory.offload import GpuPlacement
from modelctl.modelfile.grammar import ModelSpec, parse_modelfile
from modelctl.modelfile.importer import ImportedProfile, import_modelfile
from modelctl.modelfile.render import Rendered, render
from modelctl.ollama.hosts import HostFacts, HostSpec
from modelctl.ollama.server import ModelNotFound, OllamaClient, PromptTooLong, ServerInfo
from modelctl.ollama.session import HostSession
from modelctl.profile.derive import DerivedProfile, derive_profile
from modelctl.profile.inventory import Inventory, InventoryError, load_inventory, select_hosts
from modelctl.profile.profile import LoadedProfile, Profile, json_schema

__all__ = [
    # jobs
    "build",
    "build_hosts",
    "compare",
    "derive_profile",
    "compare_hosts",
    "estimate",
    "explain",
    "facts_for",
    "import_model",
    "import_modelfile",
    "inspect",
    "json_schema",
    "list_models",
    "load_inventory",
    "load_profile",
    "loaded_models",
    "open_chat",
    "parse_modelfile",
    "plan",
    "plan_hosts",
    "probe",
    "render",
    "remove_models",
    "render_profile",
    "run",
    "select_hosts",
    "show",
    "show_modelfile",
    "show_hosts",
    "together",
    "sweep",
    "validate",
    "validate_hosts",
    # results
    "BudgetResult",
    "BuildOptions",
    "BuildOutcome",
    "BuildResult",
    "ChatSession",
    "CompareOptions",
    "DeployedModelfile",
    "DerivedProfile",
    "Difference",
    "EstimateReport",
    "Explanation",
    "FactsSource",
    "Fleet",
    "GpuOptions",
    "GpuPlacement",
    "HostFacts",
    "HostRun",
    "HostSpec",
    "ImportedProfile",
    "LoadedModels",
    "Inventory",
    "LoadedProfile",
    "Matrix",
    "MemoryEstimate",
    "ModelFacts",
    "ModelList",
    "ModelReport",
    "ModelSpec",
    "ParamTable",
    "PlanResult",
    "ProbeReport",
    "Profile",
    "RemoveResult",
    "Rendered",
    "Residency",
    "Resolution",
    "RunReport",
    "RunResult",
    "ServerInfo",
    "SweepResult",
    "Validation",
    # events
    "CellDone",
    "Event",
    "EventSink",
    "Notice",
    "ProfileDone",
    "Status",
    "Token",
    "Transfer",
    # errors
    "CheckFailed",
    "Diagnostic",
    "ExitCode",
    "GGUFError",
    "InvalidInput",
    "InventoryError",
    "ModelCheckFailed",
    "ModelNotFound",
    "PromptTooLong",
    "ModelctlError",
    "ModelfileError",
    "ProfileError",
    "ServerError",
    "ServerUnreachable",
    "TemplateError",
    "UsageProblem",
    # the HTTP client, for what the jobs do not cover; a host session (one server, one run)
    "HostSession",
    "OllamaClient",
]


def inspect(path: str | Path) -> ModelFacts:
    """Facts from a local GGUF file (no tensor data read); the object :func:`estimate` takes."""
    return facts_from_gguf(path)
