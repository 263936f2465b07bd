"""``estimate A B C --together``: which profiles share a runner, which evict each other, what all cost.

Ollama keeps one runner per weights file (server/sched.go ``schedulerModelKey``): profiles
built on the same weights share it while their load-time options, adapters and projectors
match, and reload it whenever a request of the other arrives otherwise (``needsReload``; the
one rule is :func:`modelctl.memory.effective.reload_reasons`). Profiles on other weights get runners
of their own, up to ``OLLAMA_MAX_LOADED_MODELS`` at once (0: three per GPU) and as far as the
GPU holds them: beside a loaded model, a new one must fit on the GPU entirely, within 80 % of
the free memory (``load``), or Ollama unloads the least recently used idle runner.

:func:`together` resolves every profile (modelctl.memory.effective), groups them into runners, names
the runners that evict each other and the smallest change that lets them share (one value per
differing option, the one most of them already have), and estimates the memory of every
runner (modelctl.memory.memory), of what can stay loaded at once now, and with the change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TypedDict

from modelctl.common.jsontypes import JSONObject, json_of
from modelctl.common.limits import TOGETHER_MEMBERS
from modelctl.errors import Diagnostic, InvalidInput, JobResult, gather
from modelctl.jobs.estimate import EstimateOptions, adapter_size
from modelctl.jobs.explain import Subject, explain_context, subject_for
from modelctl.memory.effective import (
    ASSUMED,
    DECLARED,
    Change,
    Conflict,
    Layer,
    Resolution,
    Resolved,
    RunnerSpec,
    Source,
    conflicts,
    resolve,
    runner_spec,
    share_groups,
    smallest_change,
    with_changes,
)
from modelctl.memory.memory import MemoryEstimate, Runtime, estimate_for_facts
from modelctl.memory.offload import FIT_MARGIN_BYTES, Gpu, place
from modelctl.ollama.hosts import HostFacts, HostRef
from modelctl.ollama.session import HostSession, session_for

#: server/sched.go: with OLLAMA_MAX_LOADED_MODELS unset (0), three loaded models per GPU.
MODELS_PER_GPU = 3
#: server/sched.go load: beside loaded models, a new one must be predicted within 80 % of the free memory.
BESIDE_SHARE = 0.8
CITE_KEY = "server/sched.go schedulerModelKey"
CITE_UNLOAD = "server/sched.go findRunnerToUnload"


@dataclass
class Member:
    """One profile (or model) given: what it starts from, its options, the runner it asks for."""

    subject: Subject
    resolution: Resolution
    spec: RunnerSpec


@dataclass
class Runner:
    """Profiles that share one runner, and its memory (None: the model's facts are unknown)."""

    members: list[Member]
    memory: MemoryEstimate | None = None
    why_no_memory: str | None = None

    @property
    def spec(self) -> RunnerSpec:
        return self.members[0].spec

    @property
    def labels(self) -> list[str]:
        return [m.spec.label for m in self.members]

    def to_dict(self) -> JSONObject:
        res = self.members[0].resolution
        return {
            "profiles": self.labels,
            "base": self.spec.base,
            "weights": self.spec.weights,
            "options": dict(self.spec.options),
            "parallel": res.parallel,
            "kv_cache_type": res.settings["kv_cache_type"].value,
            "total_bytes": self.memory.total_bytes if self.memory is not None else None,
            "memory": self.memory.to_dict() if self.memory is not None else None,
            "why_no_memory": self.why_no_memory,
        }


@dataclass
class Eviction:
    """Two runners on the same weights: only one can be loaded, and every switch reloads."""

    a: Runner
    b: Runner
    conflict: Conflict

    def to_dict(self) -> JSONObject:
        c = self.conflict.to_dict()
        return {
            "a": self.a.labels,
            "b": self.b.labels,
            "base": c["base"],
            "reasons": c["reasons"],
            "values": c["values"],
            "one_way": c["one_way"],
        }


@dataclass
class WeightsGroup:
    """The runners on one weights file, and what would let them share one."""

    weights: str
    base: str
    runners: list[Runner]
    changes: list[Change] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)  # what no option change fixes
    shared: MemoryEstimate | None = None  # the one runner after the changes

    @property
    def largest(self) -> int | None:
        sizes = [r.memory.total_bytes for r in self.runners if r.memory is not None]
        return max(sizes) if len(sizes) == len(self.runners) else None

    def to_dict(self) -> JSONObject:
        return {
            "weights": self.weights,
            "base": self.base,
            "runners": len(self.runners),
            "changes": [c.to_dict() for c in self.changes],
            "blockers": list(self.blockers),
            "shared_total_bytes": self.shared.total_bytes if self.shared is not None else None,
        }


class Load(TypedDict):
    """One runner as it loads beside the ones before it."""

    profiles: list[str]
    total_bytes: int | None
    fits: bool
    why: str


@dataclass
class Placement:
    """Whether each runner (one per weights, in the order given) can load beside the ones before it."""

    gpu_memory_bytes: int
    loads: list[Load] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return all(x["fits"] for x in self.loads)

    def to_dict(self) -> JSONObject:
        return {"gpu_memory_bytes": self.gpu_memory_bytes, "fits": self.fits, "loads": [json_of(x) for x in self.loads]}


@dataclass
class Residency(JobResult):
    """``estimate --together``'s result."""

    members: list[Member]
    runners: list[Runner]
    evictions: list[Eviction]
    groups: list[WeightsGroup]
    max_loaded: Resolved
    placement: Placement | None = None
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def resident_bytes(self) -> int | None:
        """At most at once now: one runner per weights (the largest of each), all weights loaded."""
        sizes = [g.largest for g in self.groups]
        return sum(s for s in sizes if s is not None) if all(s is not None for s in sizes) else None

    @property
    def shared_bytes(self) -> int | None:
        """Everything loaded at once after the smallest changes (None: a blocker, or unknown facts)."""
        sizes = [g.shared.total_bytes if g.shared is not None else None for g in self.groups]
        return sum(s for s in sizes if s is not None) if all(s is not None for s in sizes) else None

    @property
    def loaded_at_once(self) -> int:
        return len(self.groups)

    def to_dict(self) -> JSONObject:
        server = self.members[0].resolution.server if self.members else None
        return {
            "server": server.to_dict() if server is not None else None,
            "profiles": [{**m.subject.to_dict(), "runner": m.spec.to_dict()} for m in self.members],
            "runners": [r.to_dict() for r in self.runners],
            "evictions": [e.to_dict() for e in self.evictions],
            "weights": [g.to_dict() for g in self.groups],
            "resident_bytes": self.resident_bytes,
            "shared_bytes": self.shared_bytes,
            "max_loaded": {"value": self.max_loaded.value, "source": self.max_loaded.source.to_dict()},
            "loaded_at_once": self.loaded_at_once,
            "gpu": self.placement.to_dict() if self.placement is not None else None,
        }


# =========================================================================== memory


def _memory(member: Member, spec: RunnerSpec) -> tuple[MemoryEstimate | None, str | None]:
    """The memory of a runner for ``spec``'s options (modelctl.memory.memory), or why it cannot be known."""
    subject, res = member.subject, member.resolution
    if subject.facts is None:
        return None, f"the facts of {subject.base.name} are unknown ({subject.base.where})"
    setting = res.settings["flash_attention"]
    fa = setting.value if setting.basis == DECLARED else None  # else the version's rule decides per model
    runtime = Runtime(
        fa,
        spec.option("num_batch"),
        None,
        res.server.version,
        setting.source.text if fa is not None else None,
        res.model.embedding_only,
    )
    adapters = sum(
        adapter_size(p).weights_bytes
        for p in (subject.profile.profile.adapter_paths() if subject.profile is not None else [])
    )
    try:
        est = estimate_for_facts(
            subject.facts,
            int(spec.option("num_ctx")),
            str(res.settings["kv_cache_type"].value),
            res.parallel,
            adapter_bytes=adapters,
            runtime=runtime,
        )
    except InvalidInput as exc:
        return None, exc.message
    return est, None


def _runners(members: Sequence[Member]) -> list[Runner]:
    by_spec = {id(m.spec): m for m in members}
    out = []
    for group in share_groups([m.spec for m in members]):
        runner = Runner([by_spec[id(s)] for s in group])
        runner.memory, runner.why_no_memory = _memory(runner.members[0], runner.spec)
        out.append(runner)
    return out


def _evictions(runners: Sequence[Runner]) -> list[Eviction]:
    out = []
    for i, a in enumerate(runners):
        for b in runners[i + 1 :]:
            found = conflicts([a.spec, b.spec])
            if found:
                out.append(Eviction(a, b, found[0]))
    return out


def _groups(runners: Sequence[Runner]) -> list[WeightsGroup]:
    groups: dict[str, WeightsGroup] = {}
    for r in runners:
        groups.setdefault(r.spec.weights, WeightsGroup(r.spec.weights, r.spec.base, [])).runners.append(r)
    for g in groups.values():
        members = [m for r in g.runners for m in r.members]
        if len(g.runners) > 1:
            g.changes, g.blockers = smallest_change([m.spec for m in members])
        if not g.blockers:
            first = g.runners[0].members[0]
            g.shared, _ = _memory(first, with_changes(first.spec, g.changes))
    return list(groups.values())


# =========================================================================== limits


def _max_loaded(res: Resolution) -> Resolved:
    """OLLAMA_MAX_LOADED_MODELS as declared; unset or 0: three per GPU (one GPU assumed)."""
    auto = f"{MODELS_PER_GPU} per GPU, one GPU assumed"
    text = f"OLLAMA_MAX_LOADED_MODELS unset: {auto}"
    out = Resolved("max_loaded_models", [Layer(MODELS_PER_GPU, Source("ollama", ASSUMED, text))])
    declared = res.server.get("max_loaded_models")
    if declared is not None:
        value, src = int(declared[0]), declared[1]
        out.layers.append(
            Layer(value, src) if value > 0 else Layer(MODELS_PER_GPU, replace(src, text=f"{src.text}: 0 = {auto}"))
        )
    return out


def _placement(groups: Sequence[WeightsGroup], gpu: Gpu) -> Placement:
    """Runners loaded in the order given, one per weights (its largest): the first may spill to the
    host; each later one must fit on the GPU entirely, within 80 % of what is free, else evicts."""
    out = Placement(gpu.memory_bytes)
    free = gpu.memory_bytes
    for n, g in enumerate(groups):
        runner = max(g.runners, key=lambda r: r.memory.total_bytes if r.memory is not None else 0)
        est = runner.memory
        facts = runner.members[0].subject.facts
        if est is None or facts is None:
            fits, why = False, runner.why_no_memory or "memory unknown"
        elif n == 0:
            placed = place(facts, est, gpu)
            fits = True
            why = f"first to load: {placed.answer} ({placed.layers_on_gpu} of {placed.layers_total} layers on the GPU)"
            free -= placed.gpu_bytes
        elif est.total_bytes <= BESIDE_SHARE * free and est.total_bytes + FIT_MARGIN_BYTES <= free:
            fits, why = True, "fits beside the runners loaded before it"
            free -= est.total_bytes
        else:
            fits = False
            why = (
                f"does not fit beside them ({free / (1 << 30):.2f} GiB free; it needs "
                f"{est.total_bytes / (1 << 30):.2f} GiB within 80 %): Ollama unloads an idle runner "
                f"({CITE_UNLOAD})"
            )
        out.loads.append(
            {"profiles": runner.labels, "total_bytes": est.total_bytes if est else None, "fits": fits, "why": why}
        )
    return out


# =========================================================================== the job


def _member(subject: Subject, res: Resolution) -> Member:
    return Member(subject, res, runner_spec(res, subject.label, subject.weights))


class _ContextArgs(TypedDict):
    """What :func:`explain_context` takes besides the session."""

    host: HostRef
    flags: HostFacts | None
    ollama_version: str | None


def _members(
    refs: Sequence[str], session: HostSession | None, overrides: Sequence[str], ctx_args: _ContextArgs
) -> tuple[list[Member], list[Diagnostic]]:
    ctx, notes = explain_context(session, **ctx_args)
    live = session if ctx.reachable else None
    subjects = gather(lambda ref: subject_for(ref, live, overrides), refs)
    members = [_member(s, resolve(s.base, ctx, profile=s.profile)) for s in subjects]
    notes += [w for s in subjects for w in s.warnings]
    counts = Counter(m.spec.label for m in members)
    dupes = sorted(x for x, n in counts.items() if n > 1)
    if dupes:
        raise InvalidInput(f"given twice, or two of them named alike: {', '.join(dupes)}")
    return members, notes


def together(
    refs: Sequence[str],
    options: EstimateOptions | None = None,
    *,
    host: HostRef = None,
    timeout: float | None = None,
) -> Residency:
    """Which of ``refs`` share a runner, which evict each other, and what they cost loaded together.

    ``options`` declares the server's settings (KV cache type, slots, flash attention, max loaded
    models, GPU) over the inventory host's facts; its ``gpu`` checks the runners on one GPU.
    """
    if len(refs) < 2:
        raise InvalidInput("--together needs at least two profiles (or models)", field="--together")
    cap = TOGETHER_MEMBERS.value()
    if len(refs) > cap:  # every pair is compared: refused before any file is read or request sent
        raise InvalidInput(
            f"{len(refs):,} profiles (or models) given; --together takes at most {cap:,} ({TOGETHER_MEMBERS.env})",
            field="--together",
        )
    o = options or EstimateOptions()
    device = o.device()  # --gpu-memory: the server's VRAM, which also picks its default num_ctx
    ctx_args: _ContextArgs = {"host": host, "flags": o.declared(), "ollama_version": o.ollama_version}
    if o.no_server:
        members, notes = _members(refs, None, o.overrides, ctx_args)
    else:
        with session_for(host, timeout=timeout) as session:
            members, notes = _members(refs, session, o.overrides, ctx_args)
    runners = _runners(members)
    groups = _groups(runners)
    out = Residency(members, runners, _evictions(runners), groups, _max_loaded(members[0].resolution), warnings=notes)
    device = device or _declared_gpu(members[0].resolution)
    if device is not None:
        out.placement = _placement(groups, device)
    return out


def _declared_gpu(res: Resolution) -> Gpu | None:
    declared = res.server.get("gpu_memory")
    if declared is None:
        return None
    overhead = res.server.get("gpu_overhead")
    return Gpu(int(declared[0]), "cuda", int(overhead[0]) if overhead else 0)
