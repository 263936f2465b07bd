"""Writer for ``estimate --together``: the runners, the ones that evict each other, the change that
lets them share, and the memory of everything loaded at once."""

from __future__ import annotations

from modelctl.common.units import human_bytes
from modelctl.jobs.residency import Residency, Runner
from modelctl.memory.effective import ASSUMED, DECLARED, display
from modelctl.output import Result
from modelctl.output.text import Table


def _size(n: int | None) -> str:
    return human_bytes(n) if n is not None else "unknown"


def _runner_row(n: int, r: Runner) -> tuple[str, ...]:
    res = r.members[0].resolution
    opts = dict(r.spec.options)
    ctx = f"{opts['num_ctx']:,}" + (" auto" if "num_ctx" in r.spec.auto else "")
    batch = f"{opts['num_batch']}" + (" auto" if "num_batch" in r.spec.auto else "")
    kv = display(res.settings["kv_cache_type"].value)
    size = _size(r.memory.total_bytes if r.memory is not None else None)
    ours = r.memory.ollama_total_bytes if r.memory is not None else None
    if ours is not None and r.memory is not None and ours != r.memory.total_bytes:
        size += f" (Ollama's {human_bytes(ours)})"
    return (str(n), ", ".join(r.labels), r.spec.base, ctx, batch, str(res.parallel), kv, size)


def _mark(basis: str) -> str:
    return f" ({basis})" if basis in (DECLARED, ASSUMED) else ""


def _evictions(report: Residency, number: dict[int, int]) -> list[str]:
    if not report.evictions:
        return ["no two of them reload each other: each weights file keeps one runner for all its profiles\n"]
    lines = ["evict each other (Ollama keeps one runner per weights file; every switch reloads it):"]
    for e in report.evictions:
        values = "; ".join(f"{k} {' / '.join(display(v, k) for v in vs)}" for k, vs in e.conflict.values().items())
        lines.append(
            f"  runner {number[id(e.a)]} ({', '.join(e.a.labels)}) and runner {number[id(e.b)]} "
            f"({', '.join(e.b.labels)}): {values}"
        )
        one_way = e.conflict.one_way()
        if one_way:
            lines.append(f"    only one way: {one_way}")
    for g in report.groups:
        for c in g.changes:
            lines.append(f"smallest change to share {g.base}: {c.text()}")
        for b in g.blockers:
            lines.append(f"cannot share {g.base}: {b}")
    return [line + "\n" for line in lines]


def _memory_lines(report: Residency) -> list[str]:
    lines = [
        f"loaded at once: {report.loaded_at_once} runner(s), one per weights file: {_size(report.resident_bytes)}"
        + (" (the largest runner of each)" if report.evictions else "")
    ]
    if report.evictions:
        lines.append(f"with the change, everything loaded together: {_size(report.shared_bytes)}")
    m = report.max_loaded
    verdict = (
        "within it"
        if report.loaded_at_once <= m.value
        else ("more than that: loading one more unloads the least recently used idle runner")
    )
    lines.append(f"max loaded models: {m.value}, {m.source.text}{_mark(m.basis)}: {verdict}")
    p = report.placement
    if p is not None:
        head = "fits" if p.fits else "does not fit"
        lines.append(f"GPU {human_bytes(p.gpu_memory_bytes)}: {head} with all of them loaded")
        lines += [f"  {', '.join(x['profiles'])}: {x['why']}" for x in p.loads]
    return [line + "\n" for line in lines]


def together_blocks(report: Residency) -> list[str | Table]:
    number = {id(r): n for n, r in enumerate(report.runners, 1)}
    server = report.members[0].resolution.server
    where = server.host or "no server"
    head = f"{len(report.members)} profiles on {where}: Ollama {server.version}{_mark(server.version_basis)}\n\n"
    rows = [_runner_row(n, r) for n, r in enumerate(report.runners, 1)]
    blocks: list[str | Table] = [head]
    blocks.append(
        Table(("runner", "profiles", "base", "num_ctx", "num_batch", "slots", "KV", "memory"), rows, wrap=(1,))
    )
    blocks.append("\n" + "".join(_evictions(report, number)))
    blocks.append("\n" + "".join(_memory_lines(report)))
    unknown = [r for r in report.runners if r.memory is None]
    blocks += [f"runner {number[id(r)]}: memory unknown: {r.why_no_memory}\n" for r in unknown]
    return blocks


def together_result(report: Residency) -> Result:
    blocks = together_blocks(report)
    return Result(data=report.to_dict(), blocks=lambda: blocks, warnings=report.warnings)
