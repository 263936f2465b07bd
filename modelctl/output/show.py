"""Writers for ``show`` and the report part of ``build``: one fact per line, aligned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modelctl.common.units import format_value, human_bytes
from modelctl.errors import Diagnostic
from modelctl.output import Result
from modelctl.output.facts import ollama_total
from modelctl.output.summary import fleet_result, host_table, summary_line

if TYPE_CHECKING:  # build's writer imports this module: the report job loads when a report is composed
    from modelctl.jobs.fleet import Fleet
    from modelctl.jobs.show import DeployedModelfile, ModelReport

# What the server uses when no num_ctx is stored (reference: Ollama's server/routes.go Serve).
SERVER_DEFAULT_CONTEXT = "server default (OLLAMA_CONTEXT_LENGTH, else 4096 / 32768 / 262144 by total VRAM)"


def _num(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _memory_rows(d: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The estimate (llama.cpp's allocation), Ollama's own figure beside it where they differ, or why there is none."""
    mem = d.get("memory")
    if not isinstance(mem, Mapping):
        return [("memory (estimate)", f"- ({d['memory_unknown']})")] if d.get("memory_unknown") else []
    total = mem.get("total_bytes") or mem.get("total")
    if total is None:
        return []
    at = mem.get("num_ctx")
    effective = mem.get("effective_num_ctx")
    at_text = _num(at)
    if isinstance(effective, int) and isinstance(at, int) and effective != at:
        # The estimate counts the KV cache for the context Ollama really allocates.
        at_text = f"{_num(effective)} (capped from {_num(at)})"
    rows = [("memory (estimate)", f"{human_bytes(total)} at num_ctx {at_text}{_kv_text(mem)}")]
    ours = ollama_total(mem)
    if ours is not None and ours != total:
        rows.append(("memory (Ollama's)", f"{human_bytes(ours)}: its own estimate, what /api/ps reports"))
    return rows


def report_text(d: Mapping[str, Any]) -> str:
    """The human report: one fact per line, aligned."""
    ctx = d.get("context_length") or {}
    rows: list[tuple[str, str]] = []
    rows.append(("host", str(d.get("host") or "-")))
    rows.append(("base", str(d.get("base") or "-")))
    rows.append(("architecture", str(d.get("architecture") or "-")))
    size = d.get("parameter_size")
    count = d.get("parameter_count")
    params_text = size or "-"
    if count:
        params_text = f"{params_text} ({_num(count)})"
    rows.append(("parameters", str(params_text)))
    rows.append(("quantization", str(d.get("quantization") or "-")))
    configured = ctx.get("configured")
    default = d.get("server_default_context")
    default_text = (
        f"server default {_num(default.get('num_ctx'))} ({default.get('source')})"
        if isinstance(default, Mapping)
        else SERVER_DEFAULT_CONTEXT
    )
    conf_text = _num(configured) if configured is not None else "not set: " + default_text
    if configured is None and d.get("server_context_length"):
        conf_text = f"not set: the host's OLLAMA_CONTEXT_LENGTH {_num(d['server_context_length'])} (inventory)"
    rows.append(("context trained", _num(ctx.get("trained"))))
    rows.append(("context configured", conf_text))
    rows.append(("context runtime", _runtime_text(ctx.get("runtime"), d.get("runtime"))))
    rows.append(("embedding length", _num(d.get("embedding_length"))))
    rows.append(("layers", _num(d.get("block_count"))))
    heads = _num(d.get("head_count"))
    kv = d.get("head_count_kv")
    rows.append(("attention heads", f"{heads} (KV heads {_num(kv)})" if kv is not None else heads))
    caps = d.get("capabilities") or []
    rows.append(("capabilities", ", ".join(caps) if caps else "-"))
    rows.append(("size on disk", human_bytes(d.get("size_bytes")) if d.get("size_bytes") else "-"))
    rows.extend(_memory_rows(d))
    gpu = d.get("gpu")
    if isinstance(gpu, Mapping):
        rows.append(
            (
                "GPU (inventory)",
                f"{gpu.get('answer')}: {gpu.get('layers_on_gpu')} of {gpu.get('layers_total')} layers on "
                f"{human_bytes(gpu.get('gpu_memory_bytes'))} ({gpu.get('backend')})",
            )
        )
    rt = d.get("runtime")
    if isinstance(rt, Mapping) and rt.get("size") is not None:
        rows.append(
            (
                "loaded",
                f"{human_bytes(rt.get('size'))} in memory, {human_bytes(rt.get('size_vram') or 0)} in VRAM"
                f" ({rt.get('processor') or '-'})",
            )
        )
    rows.append(("system", _set_text(d.get("system_set"), d.get("system_length"))))
    rows.append(("template", _set_text(d.get("template_set"), d.get("template_length"))))
    for key in ("renderer", "parser"):
        if d.get(key):
            rows.append((key, str(d[key])))
    if d.get("draft"):
        rows.append(("draft", f"{str(d['draft'])[:19]} (speculative decoding)"))
    if d.get("projectors"):
        rows.append(("projector", ", ".join(str(p)[:19] for p in d["projectors"])))
    width = max(len(k) for k, _ in rows)
    lines = [str(d.get("name") or "?")]
    lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
    params = d.get("parameters") or {}
    if params:
        lines.append("  stored parameters:")
        pw = max(len(k) for k in params)
        inherited = set(d.get("inherited_parameters") or ())
        for k, v in params.items():
            mark = "  (inherited from the base)" if k in inherited else ""
            lines.append(f"    {k.ljust(pw)}  {format_value(v)}{mark}")
    else:
        lines.append("  stored parameters: none")
    return "\n".join(lines) + "\n"


def _runtime_text(runtime: Any, rt: Any) -> str:
    """The runner's context: /api/ps's figure, a measured one, or why there is none."""
    loaded = isinstance(rt, Mapping)  # a runtime is reported only for a loaded model
    if runtime is not None:
        measured = loaded and rt.get("context_length_source") == "measured"
        return _num(runtime) + (" (measured: an over-long prompt was cut to it)" if measured else "")
    if loaded and rt.get("size") is None:
        return "- (loaded; /api/ps lists its runner under another model's name)"
    if loaded:
        return "- (loaded; /api/ps of Ollama before 0.10.0 does not say it)"
    return "- (not loaded; use --verify)"


def _kv_text(mem: Mapping[str, Any]) -> str:
    """`` (KV q8_0, 2 slots)`` when the estimate is not the plain f16, one-slot one; ``KV q8_0 as
    f16`` when the server falls back to f16 (flash attention off)."""
    kv, slots, asked = mem.get("kv_type"), mem.get("parallel"), mem.get("kv_type_requested")
    bits = [f"KV {asked} as {kv}"] if asked not in (None, kv) else [f"KV {kv}"] if kv not in (None, "f16") else []
    bits += [f"{slots} slots"] if isinstance(slots, int) and slots > 1 else []
    return f" ({', '.join(bits)})" if bits else ""


def _set_text(flag: Any, length: Any) -> str:
    if flag:
        return f"set ({length} characters)" if length is not None else "set"
    return "not set"


def verify_text(report: ModelReport) -> str:
    """The ``verify:`` line after a report (empty when nothing was verified)."""
    v = report.verification
    if v is None:
        return ""
    if v.problem:
        return f"  verify: FAILED: {v.problem}\n"
    if v.reason:
        return f"  verify: not checked: {v.reason}\n"
    m = v.measured
    if m is not None:
        return f"  verify: ok (measured: a prompt of {m.words:,} words was cut to {m.kept:,} tokens)\n"
    return "  verify: ok\n"


def verify_errors(reports: list[ModelReport]) -> list[Diagnostic]:
    """One error per report whose runtime context is not the configured one."""
    return [
        Diagnostic("verify_failed", f"{r.name}: {r.verification.problem}", field="parameters.num_ctx")
        for r in reports
        if r.verification is not None and r.verification.problem
    ]


def show_fleet_result(fleet: Fleet[ModelReport]) -> Result:
    """One host: :func:`show_result`. Several: each host's report under its name, then the host x
    model table; a host without the model, or failing, is an error line of its own."""

    def text() -> str:
        parts = []
        for run in fleet.runs:
            if run.result is not None:
                parts.append(f"== {run.label} ==\n" + report_text(run.result.to_dict()) + verify_text(run.result))
        labels = [r.label for r in fleet.runs]
        parts.append(host_table(fleet.cells, labels) + summary_line(fleet.counts(), hosts=len(labels)) + "\n")
        return "\n".join(parts)

    return fleet_result(fleet, show_result, text)


def show_result(report: ModelReport) -> Result:
    data = report.to_dict()
    return Result(
        data=data,
        text=lambda: report_text(data) + verify_text(report),
        exit_code=report.exit_code(),
        warnings=report.warnings,
        errors=verify_errors([report]),
    )


def modelfile_result(m: DeployedModelfile) -> Result:
    """``show --modelfile``: the Modelfile text; JSON has it under ``modelfile``."""
    return Result(data=m.to_dict(), text=m.text, warnings=m.warnings)
