"""``estimate``: a profile, a model on a server or a GGUF file -> facts -> memory.

:func:`facts_for` is the one function that turns a reference into :class:`ModelFacts`
(asking a server only for a model name or a profile based on one); :func:`estimate` adds
the memory estimate at a context length, the largest num_ctx for a budget, and a table by
context size and KV type (modelctl.memory does the arithmetic).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelctl.errors import Diagnostic, GGUFError, InvalidInput
from modelctl.facts import ModelFacts, facts_from_gguf, facts_from_show
from modelctl.memory import (
    DEFAULT_OVERHEAD_BYTES,
    BudgetResult,
    MemoryEstimate,
    context_sizes,
    estimate_for_facts,
    estimate_table,
    max_num_ctx_for_budget,
)
from modelctl.params import DEFAULT_NUM_CTX
from modelctl.profile import LoadedProfile, is_profile_ref, load_profile
from modelctl.server import OllamaClient
from modelctl.units import parse_size
from modelctl.wire import find_entry

_LOCAL_PREFIXES = ("./", "../", "/", "~", ".\\", "..\\")


@dataclass
class AdapterSize:
    path: str
    weights_bytes: int
    not_counted: str | None = None  # why it is not counted (e.g. not a GGUF)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "weights_bytes": self.weights_bytes}
        if self.not_counted is not None:
            out["not_counted"] = self.not_counted
        return out


@dataclass
class FactsSource:
    """Facts about the model a reference names, and where they came from."""

    facts: ModelFacts
    kind: str  # "profile" | "gguf" | "server"
    ref: str
    profile: LoadedProfile | None = None
    base: str | None = None  # for a profile: "gguf" or "server"
    num_ctx: int | None = None  # the profile's num_ctx
    adapters: list[AdapterSize] = field(default_factory=list)

    @property
    def adapter_bytes(self) -> int:
        return sum(a.weights_bytes for a in self.adapters)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "ref": self.ref}
        if self.profile is not None:
            out.update(profile=str(self.profile.path), **{"from": self.profile.profile.from_})
            out["base"] = self.base
            out["adapters"] = [a.to_dict() for a in self.adapters]
            out["adapter_bytes"] = self.adapter_bytes
        return out


def facts_for(
    ref: str, *, overrides: tuple[str, ...] | list[str] = (), host: str | None = None, timeout: float | None = None
) -> FactsSource:
    """A profile (its ``from``, num_ctx and adapters), a GGUF file, or a model on the server.

    Order: a profile reference (a YAML path or a name found among the profiles) -> profile;
    another existing file or directory, a name ending in .gguf, or a path starting with
    ./ ../ / ~ -> GGUF; anything else -> a model on the server at ``host``.
    """
    if is_profile_ref(ref):
        return _profile_facts(ref, overrides, host, timeout)
    local = os.path.exists(ref) or ref.lower().endswith(".gguf") or ref.startswith(_LOCAL_PREFIXES)
    if overrides:
        what = "a GGUF file" if local else "not one"
        raise InvalidInput(f"--set applies to a PROFILE; {ref} is {what}", field="--set")
    if local:
        return FactsSource(facts_from_gguf(ref), "gguf", ref)
    return FactsSource(server_facts(ref, host=host, timeout=timeout), "server", ref)


def server_facts(model: str, *, host: str | None = None, timeout: float | None = None) -> ModelFacts:
    """/api/show + the model's /api/tags entry -> facts."""
    with OllamaClient(host, timeout=timeout) as client:
        show = client.show(model)
        entry = find_entry(client.tags(), model)
        return facts_from_show(show, entry, name=model, host=client.display_host)


def _profile_facts(
    ref: str, overrides: tuple[str, ...] | list[str], host: str | None, timeout: float | None
) -> FactsSource:
    loaded = load_profile(ref, overrides)
    prof = loaded.profile
    num_ctx: int | None = prof.parameters.as_dict().get("num_ctx")
    base = prof.base_path()
    if base is not None and base.is_dir():
        raise InvalidInput(
            f"`from` is a directory ({base}); estimate reads GGUF files (convert or build it first, "
            "then estimate the built model)",
            file=str(loaded.path),
            field="from",
        )
    facts = facts_from_gguf(base) if base is not None else server_facts(prof.from_, host=host, timeout=timeout)
    if num_ctx is not None:  # else the base model's own num_ctx (inherited) stays
        facts.context_configured = num_ctx
    if not facts.name or base is not None:
        facts.name = prof.name
    source = FactsSource(facts, "profile", ref, loaded, "gguf" if base is not None else "server", num_ctx)
    source.adapters = [_adapter_size(p) for p in prof.adapter_paths()]
    return source


def _adapter_size(path: Path) -> AdapterSize:
    try:
        return AdapterSize(str(path), facts_from_gguf(path).weights_bytes or 0)
    except GGUFError as exc:  # e.g. a safetensors adapter: not counted, and said so
        return AdapterSize(str(path), 0, exc.message)


@dataclass
class EstimateReport:
    """``estimate``'s result: the facts, the estimate, and optionally a budget search and a table."""

    source: FactsSource
    memory: MemoryEstimate
    budget: BudgetResult | None = None
    table: list[dict[str, Any]] | None = None
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def facts(self) -> ModelFacts:
        return self.source.facts

    @property
    def fits(self) -> bool:
        """False when a budget was given and nothing fits in it."""
        return self.budget is None or self.budget.fits

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.source.to_dict(),
            "model": self.facts.to_dict(),
            "estimate": self.memory.to_dict(),
            "budget": self.budget.to_dict() if self.budget is not None else None,
            "table": self.table,
        }


def _bytes(value: int | str | None, what: str, *, allow_zero: bool = False) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return parse_size(value, what=what, allow_zero=allow_zero)


def estimate(
    target: ModelFacts | str,
    *,
    num_ctx: int | None = None,
    kv_type: str = "f16",
    parallel: int = 1,
    overhead: int | str = DEFAULT_OVERHEAD_BYTES,
    budget: int | str | None = None,
    table: bool = False,
    overrides: tuple[str, ...] | list[str] = (),
    host: str | None = None,
    timeout: float | None = None,
) -> EstimateReport:
    """Memory for ``target`` (facts from :func:`modelctl.api.inspect`, or a reference for
    :func:`facts_for`) at ``num_ctx`` (default: the profile's, else the model's, else 4096).

    ``overhead`` and ``budget`` are bytes or sizes such as ``"12GiB"``.
    """
    overhead_bytes = _bytes(overhead, "--overhead", allow_zero=True) or 0
    budget_bytes = _bytes(budget, "--budget")
    if isinstance(target, ModelFacts):
        source = FactsSource(target, "facts", target.name or target.path or "")
    else:
        source = facts_for(target, overrides=overrides, host=host, timeout=timeout)
    facts = source.facts
    n = num_ctx or source.num_ctx or facts.context_configured
    ctx_note = None
    if n is None:
        n = DEFAULT_NUM_CTX
        ctx_note = (
            f"num_ctx not set: using {DEFAULT_NUM_CTX}, Ollama's default below ~24 GiB of VRAM "
            "(32768 below ~48 GiB, 262144 above, or OLLAMA_CONTEXT_LENGTH)"
        )
    adapter_bytes = source.adapter_bytes
    est = estimate_for_facts(facts, n, kv_type, parallel, overhead_bytes=overhead_bytes, adapter_bytes=adapter_bytes)
    if ctx_note:
        est.assumptions.insert(0, ctx_note)
    est.assumptions += [f"adapter {a.path} not counted: {a.not_counted}" for a in source.adapters if a.not_counted]
    report = EstimateReport(source, est)
    if est.exceeds_trained:
        report.warnings.append(
            Diagnostic(
                "num_ctx_above_trained",
                f"num_ctx {n} exceeds the trained context {facts.context_trained}; Ollama caps it there",
                field="num_ctx",
            )
        )
    if budget_bytes is not None:
        report.budget = max_num_ctx_for_budget(
            facts, budget_bytes, kv_type, parallel, overhead_bytes=overhead_bytes, adapter_bytes=adapter_bytes
        )
    if table:
        sizes = context_sizes(facts.context_trained, n)
        report.table = estimate_table(
            facts, sizes, parallel=parallel, overhead_bytes=overhead_bytes, adapter_bytes=adapter_bytes
        )
    return report
