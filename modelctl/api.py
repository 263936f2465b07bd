"""modelctl as a library: every command's job as a function that returns a typed result.

    from modelctl import api
    facts = api.inspect("model.gguf")
    memory = api.estimate(facts, api.EstimateOptions(num_ctx=8192, kv_type="q8_0")).memory
    print(memory.total_bytes)

    ollama = api.Ollama("http://127.0.0.1:11434", timeout=30)   # one server: the jobs as methods
    result = ollama.build(["chef.yaml"], api.BuildOptions(verify=True))
    print(result.exit_code())                                   # what `modelctl build` exits with

Each function here is the one the command line calls: it returns data (dataclasses and
pydantic models, with ``to_dict()`` giving the JSON the CLI prints), raises
:class:`ModelctlError` subclasses (each carrying the CLI's exit code), never prints and never
imports click. Each job takes its settings in one keyword-only options object
(:class:`BuildOptions`, :class:`PlanOptions`, :class:`CompareOptions`, :class:`EstimateOptions`,
:class:`RunOptions`, :class:`ProbeOptions`, :class:`ValidateOptions`, :class:`ImportOptions`,
:class:`PushOptions`; a job with one plain setting, such as ``show``'s ``verify``, takes it as a
keyword), and each result says the CLI's exit code with ``exit_code()`` (:class:`JobResult`). Long
jobs (``build``, ``run``, ``compare_runs``, ``probe``, ``push_models``) report progress and streamed
tokens through the ``on_event`` callable they take (see :mod:`modelctl.common.events`).
:class:`Ollama` holds one server's host and timeout and offers every job that talks to a server
as a method.
docs/api.md has a walk-through; tests/test_api.py pins the names below.

Importing this module loads everything the jobs need (pydantic, jinja2, httpx); the CLI
imports each job on its own instead, so one command pays only for what it uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from modelctl.common.events import CellDone, Event, EventSink, Notice, ProfileDone, Status, Token, Transfer, ignore
from modelctl.errors import (
    CheckFailed,
    Diagnostic,
    ExitCode,
    GGUFError,
    InvalidInput,
    JobResult,
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
from modelctl.jobs.compare import CompareOptions, compare, compare_runs, compare_table
from modelctl.jobs.drift import Difference
from modelctl.jobs.estimate import EstimateOptions, EstimateReport, FactsSource, GpuOptions, estimate, facts_for
from modelctl.jobs.explain import Explanation, explain
from modelctl.jobs.fleet import Fleet, HostRun, build_hosts, compare_hosts, plan_hosts, show_hosts
from modelctl.jobs.housekeeping import LoadedModels, ModelList, RemoveResult, list_models, loaded_models, remove_models
from modelctl.jobs.lint import validate_hosts
from modelctl.jobs.matrix import Matrix
from modelctl.jobs.model_import import ImportOptions, import_model
from modelctl.jobs.outdated import OutdatedResult, outdated
from modelctl.jobs.plan import PlanOptions, PlanResult, plan
from modelctl.jobs.probe import ProbeOptions, ProbeReport, probe
from modelctl.jobs.profiles import load_profile, render_profile
from modelctl.jobs.push import PushOptions, PushResult, push_models
from modelctl.jobs.residency import Residency, together
from modelctl.jobs.run import RunOptions, RunReport, RunResult, run
from modelctl.jobs.show import DeployedModelfile, ModelReport, show, show_modelfile
from modelctl.jobs.sweep import SweepResult, sweep
from modelctl.jobs.table import ParamTable
from modelctl.jobs.validate import ValidateOptions, Validation, validate
from modelctl.memory.effective import Resolution
from modelctl.memory.facts import ModelFacts, facts_from_gguf
from modelctl.memory.memory import BudgetResult, MemoryEstimate
from modelctl.memory.offload import GpuPlacement
from modelctl.modelfile.grammar import ModelSpec, parse_modelfile
from modelctl.modelfile.importer import ImportedProfile, import_modelfile
from modelctl.modelfile.render import Rendered, render
from modelctl.ollama.hosts import HostFacts, HostSpec
from modelctl.ollama.manifests import manifest_digest
from modelctl.ollama.registry import RegistrySpec
from modelctl.ollama.server import ModelNotFound, OllamaClient, PromptTooLong, ServerInfo
from modelctl.ollama.session import HostSession
from modelctl.profile.derive import DerivedProfile, derive_profile
from modelctl.profile.inventory import Inventory, InventoryError, load_inventory, select_hosts
from modelctl.profile.profile import LoadedProfile, Profile, json_schema

__all__ = [
    # one server, every job on it as a method
    "Ollama",
    # jobs
    "build",
    "build_hosts",
    "compare",
    "compare_runs",
    "compare_table",
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
    "push_models",
    "outdated",
    "manifest_digest",
    # results (each a JobResult: .exit_code() is the command line's)
    "JobResult",
    "PushOptions",
    "PushResult",
    "OutdatedResult",
    "BudgetResult",
    "BuildOptions",
    "BuildOutcome",
    "BuildResult",
    "ChatSession",
    "CompareOptions",
    "DeployedModelfile",
    "DerivedProfile",
    "Difference",
    "EstimateOptions",
    "EstimateReport",
    "Explanation",
    "FactsSource",
    "Fleet",
    "GpuOptions",
    "GpuPlacement",
    "HostFacts",
    "HostRun",
    "HostSpec",
    "ImportOptions",
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
    "PlanOptions",
    "PlanResult",
    "ProbeOptions",
    "RegistrySpec",
    "ProbeReport",
    "Profile",
    "RemoveResult",
    "Rendered",
    "Residency",
    "Resolution",
    "RunOptions",
    "RunReport",
    "RunResult",
    "ServerInfo",
    "SweepResult",
    "ValidateOptions",
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


class Ollama:
    """One Ollama server, for a script: the jobs that talk to a server as methods, the host and
    timeout given once (like a database handle: ``db = Database(path)``, then ``db.query(...)``).

        ollama = api.Ollama("http://127.0.0.1:11434", timeout=30)
        result = ollama.build(["chef.yaml"], api.BuildOptions(verify=True))
        print(result.exit_code(), ollama.show("chef").facts.quantization)

    ``host``: a URL, ``HOST:PORT``, or an inventory's :class:`HostSpec` (its headers and facts come
    along); None: ``$OLLAMA_HOST``, else the local default. Each call asks the server afresh (it
    opens its own :class:`HostSession` for the call, so a model built by one call is seen by the
    next); nothing stays open between calls. Every method returns the job's one result type, and
    every result says the command line's exit code with ``exit_code()``.
    """

    def __init__(self, host: str | HostSpec | None = None, *, timeout: float | None = None) -> None:
        self.host = host
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Ollama({self.host!r}, timeout={self.timeout!r})"

    # -- profiles -> models
    def build(
        self, refs: Sequence[str], options: BuildOptions | None = None, *, on_event: EventSink = ignore
    ) -> BuildResult:
        """``modelctl build``: each profile built (``options``: force, verify, jobs, lock...)."""
        return build(refs, options, host=self.host, timeout=self.timeout, on_event=on_event)

    def plan(
        self, refs: Sequence[str], options: PlanOptions | None = None, *, on_event: EventSink = ignore
    ) -> PlanResult:
        """``modelctl plan``: each profile against the model of its name (exit 3 on drift)."""
        return plan(refs, options, host=self.host, timeout=self.timeout, on_event=on_event)

    def import_model(self, model: str, options: ImportOptions | None = None) -> ImportedProfile:
        """``modelctl import --model``: the profile ``plan`` reports in sync with a deployed model."""
        return import_model(model, options, host=self.host, timeout=self.timeout)

    # -- what the server holds
    def show(self, ref: str, *, verify: bool = False) -> ModelReport:
        """``modelctl show``: a deployed model's report (``verify``: load it, check its context)."""
        return show(ref, verify=verify, host=self.host, timeout=self.timeout)

    def show_modelfile(self, ref: str) -> DeployedModelfile:
        """``modelctl show --modelfile``: the deployed model's Modelfile."""
        return show_modelfile(ref, host=self.host, timeout=self.timeout)

    def ls(self, refs: Sequence[str] = ()) -> ModelList:
        """``modelctl ls``: the models, each profile's state (up to date, changed, not built...)."""
        return list_models(refs, host=self.host, timeout=self.timeout)

    def ps(self) -> LoadedModels:
        """``modelctl ps``: the models loaded now."""
        return loaded_models(host=self.host, timeout=self.timeout)

    def rm(self, refs: Sequence[str], *, dry_run: bool = False) -> RemoveResult:
        """``modelctl rm``: delete models (``dry_run``: only say which)."""
        return remove_models(refs, dry_run=dry_run, host=self.host, timeout=self.timeout)

    # -- running models
    def run(
        self, ref: str, prompt: str, options: RunOptions | None = None, *, on_event: EventSink = ignore
    ) -> RunReport:
        """``modelctl run``: one answer (``truncate=False``: PromptTooLong for a prompt past the context)."""
        return run(ref, prompt, options, host=self.host, timeout=self.timeout, on_event=on_event)

    def chat(self, ref: str, options: RunOptions | None = None) -> ChatSession:
        """``modelctl run`` on a terminal: a conversation (``.send(prompt, on_token)``), with ``run``'s options."""
        url = self.host.url if isinstance(self.host, HostSpec) else self.host
        return open_chat(ref, options, host=url, timeout=self.timeout)

    def compare_table(self, refs: Sequence[str], options: CompareOptions | None = None) -> ParamTable:
        """``modelctl compare`` without prompts: the parameter table."""
        return compare_table(refs, options, host=self.host, timeout=self.timeout)

    def compare_runs(self, refs: Sequence[str], options: CompareOptions, *, on_event: EventSink = ignore) -> Matrix:
        """``modelctl compare --prompt/--prompts``: the run matrix (``options`` names the prompts)."""
        return compare_runs(refs, options, host=self.host, timeout=self.timeout, on_event=on_event)

    def sweep(
        self,
        ref: str,
        specs: Sequence[str],
        options: CompareOptions,
        *,
        save_best: str | None = None,
        on_event: EventSink = ignore,
    ) -> SweepResult:
        """``modelctl compare --sweep``: one profile under every combination of the values, ranked."""
        return sweep(ref, specs, options, save_best=save_best, host=self.host, timeout=self.timeout, on_event=on_event)

    def probe(self, ref: str, options: ProbeOptions | None = None, *, on_event: EventSink = ignore) -> ProbeReport:
        """``modelctl probe``: the largest prompt the runner takes uncut (``min_context``: exit 6 below it)."""
        return probe(ref, options, host=self.host, timeout=self.timeout, on_event=on_event)

    # -- memory and settings, with what this server says
    def estimate(self, ref: str, options: EstimateOptions | None = None) -> EstimateReport:
        """``modelctl estimate``: a profile's or model's memory (``options``: num_ctx, kv_type, budget, gpu...)."""
        return estimate(ref, options, host=self.host, timeout=self.timeout)

    def explain(self, ref: str, options: EstimateOptions | None = None) -> Explanation:
        """``modelctl explain``: where each effective setting comes from (``options``: the server's, request...)."""
        return explain(ref, options, host=self.host, timeout=self.timeout)

    def together(self, refs: Sequence[str], options: EstimateOptions | None = None) -> Residency:
        """``modelctl estimate --together``: which models stay loaded at once, and what they cost."""
        return together(refs, options, host=self.host, timeout=self.timeout)

    def facts(self, ref: str) -> FactsSource:
        """The facts of a profile's base, a GGUF file or a model on this server."""
        return facts_for(ref, host=self.host, timeout=self.timeout)
