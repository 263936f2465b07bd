"""Writers for ``inspect`` and ``estimate``: model facts and memory, sizes in binary units."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modelctl.common.units import human_bytes
from modelctl.errors import Diagnostic, ModelctlError
from modelctl.memory.facts import ModelFacts
from modelctl.memory.layers import kv_bytes_per_token, plan_layers
from modelctl.output import Result
from modelctl.output.text import Table

if TYPE_CHECKING:  # `inspect` imports this module: the estimate (profiles, pydantic, the client) stays unloaded
    from modelctl.jobs.estimate import EstimateReport
    from modelctl.memory.memory import BudgetResult, EstimateRow
    from modelctl.memory.offload import GpuPlacement


def _fmt_heads(v: Any) -> str:
    if isinstance(v, list):
        distinct = sorted(set(v))
        return f"per layer {v}" if len(v) <= 16 else f"per layer ({len(v)} layers, values {distinct})"
    return "-" if v is None else str(v)


def render_facts_text(d: dict[str, Any], kv_per_token: float | None = None) -> str:
    """Facts as aligned ``label  value`` lines (sizes in binary units, labelled)."""
    ctx = d.get("context_length") or {}
    pc = d.get("parameter_count")
    quant = d.get("quantization") or "-"
    if d.get("file_type") is not None:
        quant += f" (general.file_type {d['file_type']})"
    if d.get("bits_per_weight"):
        quant += f", {d['bits_per_weight']:.2f} bits per weight"
    kv_src = d.get("key_value_length_source")
    rows: list[tuple[str, str]] = [
        ("model", f"{d.get('name') or '-'}"),
        ("file", d.get("path") or "-"),
        ("architecture", d.get("architecture") or "-"),
        ("parameters", f"{pc:,} ({d.get('parameter_size')})" if pc else "-"),
        ("quantization", quant),
        ("tensor types", ", ".join(f"{k} x{v}" for k, v in (d.get("tensor_types") or {}).items()) or "-"),
        ("context length", f"{ctx.get('trained'):,} tokens (trained)" if ctx.get("trained") else "-"),
        ("embedding length", str(d.get("embedding_length") or "-")),
        ("blocks (layers)", str(d.get("block_count") or "-")),
        ("attention heads", _fmt_heads(d.get("head_count"))),
        ("KV heads", _fmt_heads(d.get("head_count_kv"))),
        ("key/value length", f"{d.get('key_length')}/{d.get('value_length')}" + (f" ({kv_src})" if kv_src else "")),
        ("feed-forward length", _fmt_heads(d.get("feed_forward_length"))),
        ("vocabulary", f"{d['vocab_size']:,} tokens" if d.get("vocab_size") else "-"),
        ("tokenizer", d.get("tokenizer_model") or "-"),
        ("chat template", {True: "embedded", False: "none", None: "unknown"}[d.get("chat_template")]),
    ]
    if d.get("sliding_window"):
        rows.append(("sliding window", f"{d['sliding_window']:,} tokens"))
    if d.get("expert_count"):
        rows.append(("experts", f"{d['expert_count']} ({d.get('expert_used_count') or '?'} used per token)"))
    rows.append(("weights", f"{human_bytes(d.get('weights_bytes'))} (sum of tensor sizes)"))
    rows.append(("file size", f"{human_bytes(d.get('size_bytes'))} ({d.get('size_bytes') or 0:,} bytes)"))
    if kv_per_token is not None:
        rows.append(("KV cache per token", f"{human_bytes(kv_per_token)} at f16 (see `modelctl estimate`)"))
    width = max(len(k) for k, _ in rows)
    return "".join(f"{k.ljust(width)}  {v}\n" for k, v in rows)


def inspect_result(facts: ModelFacts) -> Result:
    data = facts.to_dict()
    data["gguf_version"] = facts.gguf_version
    try:
        per_token: float | None = float(kv_bytes_per_token(plan_layers(facts), "f16"))
    except ModelctlError:  # the layout is incomplete: the facts are still worth showing
        per_token = None
    data["kv_bytes_per_token_f16"] = per_token
    return Result(data=data, text=lambda: render_facts_text(data, per_token))


def _context_line(est: dict[str, Any]) -> str:
    slots = est["parallel"]
    line = f"context   num_ctx {est['num_ctx']:,} x {slots} parallel slot{'s' if slots != 1 else ''}"
    if est.get("context_trained"):
        line += f" (trained: {est['context_trained']:,})"
    return line


def _layout_lines(est: dict[str, Any]) -> list[str]:
    kv = f"KV type   {est['kv_type']} ({est['kv_bytes_per_element']:g} bytes per element)"
    if est.get("kv_type_requested") not in (None, est["kv_type"]):
        kv += f", {est['kv_type_requested']} asked for"
    cells = f"cells     {est['cells_per_slot']:,} per slot (padded to 256)"
    if est.get("kv_unified"):
        cells = (
            f"cells     {est['context_cells']:,} in one cache shared by the slots ({est['cells_per_slot']:,} per slot)"
        )
    if est.get("swa_cells_per_slot"):
        cells += f"; sliding-window layers {est['swa_cells_per_slot']:,} per slot"
    fa = "on" if est.get("flash_attention") else "off"
    fa += {"default": " (Ollama's default)", "declared": " (declared)"}.get(
        str(est.get("flash_attention_source")), " (--flash-attention)"
    )
    ollama = est.get("ollama") or {}
    return [
        kv,
        cells,
        f"batch     n_batch {est['n_batch']}, n_ubatch {est['n_ubatch']}; flash attention {fa}",
        f"rules     {ollama.get('description', '-')}",
    ]


def _breakdown_rows(est: dict[str, Any]) -> list[tuple[str, str, str]]:
    slots = est["parallel"]
    rows = [("weights", human_bytes(est["weights_bytes"]), est["weights_source"])]
    if est.get("projector_bytes"):
        rows.append(("projector", human_bytes(est["projector_bytes"]), "vision/audio projector weights"))
    if est.get("adapter_bytes"):
        rows.append(("adapters", human_bytes(est["adapter_bytes"]), "LoRA adapter tensors"))
    cells = est["context_cells"]
    rows.append(("KV cache", human_bytes(est["kv_cache_bytes"]), f"{cells:,} cells over {slots} slot(s), all layers"))
    if est["recurrent_state_bytes"]:
        rows.append(("recurrent state", human_bytes(est["recurrent_state_bytes"]), "fixed per slot (f32)"))
    rows.append(("compute", human_bytes(est.get("compute_bytes")), f"graph buffer for {est['n_ubatch']} tokens"))
    rows.append(("output", human_bytes(est.get("output_bytes")), "logits buffer, one token per slot"))
    if est["overhead_bytes"]:
        rows.append(("overhead", human_bytes(est["overhead_bytes"]), "extra allowance (--overhead)"))
    rows.append(("total", human_bytes(est["total_bytes"]), f"{est['total_bytes']:,} bytes"))
    ours = ollama_total(est)
    if ours is not None and ours != est["total_bytes"]:
        rows.append(("Ollama's", human_bytes(ours), f"{ours:,} bytes: its own estimate, /api/ps size (llm/memory.go)"))
    return rows


def ollama_total(est: Mapping[str, Any]) -> int | None:
    """Ollama's own figure for the load (``estimate.ollama.total_bytes``), where the version has one."""
    o = est.get("ollama")
    total = o.get("total_bytes") if isinstance(o, Mapping) else None
    return total if isinstance(total, int) else None


def estimate_text(est: dict[str, Any], facts: dict[str, Any]) -> str:
    lines = [
        f"model     {facts.get('name') or '-'} ({facts.get('architecture') or '?'}, "
        f"{facts.get('parameter_size') or '?'} parameters, {facts.get('quantization') or '?'})",
        _context_line(est),
        *_layout_lines(est),
        "",
    ]
    rows = _breakdown_rows(est)
    width = max(len(r[0]) for r in rows)
    vw = max(len(r[1]) for r in rows)
    lines += [f"{a.ljust(width)}  {b.rjust(vw)}  {c}" for a, b, c in rows]
    if est["assumptions"]:
        lines += ["", "assumptions:"] + [f"  - {a}" for a in est["assumptions"]]
    return "\n".join(lines) + "\n"


def budget_text(res: BudgetResult, kv_type: str, parallel: int) -> str:
    budget = res.budget_bytes
    text = f"\nbudget {human_bytes(budget)} ({budget:,} bytes), KV {kv_type}, {parallel} slot(s):\n"
    if res.estimate is None or res.num_ctx is None:
        return text + f"  {budget_problem(res)}\n"
    text += f"  largest num_ctx that fits: {res.num_ctx:,} (total {human_bytes(res.estimate.total_bytes)}"
    if res.limited_by == "budget" and res.next_total_bytes is not None:
        text += f"; {res.num_ctx + 1:,} would need {res.next_total_bytes:,} bytes)\n"
    else:
        text += f"; capped by the {res.limited_by} {res.search_limit:,})\n"
    if res.num_ctx_1024 is not None and res.total_1024_bytes is not None:
        text += f"  largest multiple of 1024: {res.num_ctx_1024:,} (total {human_bytes(res.total_1024_bytes)})\n"
    return text


def budget_problem(res: BudgetResult) -> str:
    return (
        f"does not fit in {human_bytes(res.budget_bytes)}: even num_ctx 1 needs "
        f"{human_bytes(res.minimum_total_bytes)} (weights and buffers)"
    )


def gpu_text(gpu: GpuPlacement) -> str:
    lines = [
        f"\nGPU {human_bytes(gpu.gpu_memory_bytes)} ({gpu.backend}), by the rule of {gpu.rule_description}:",
        f"  {gpu.answer}: {gpu.layers_on_gpu} of {gpu.layers_total} layers on the GPU "
        f"({human_bytes(gpu.gpu_bytes)} there, {human_bytes(gpu.host_bytes)} in host memory)",
    ]
    if gpu.num_gpu is not None:
        lines.append(f"  num_gpu {gpu.num_gpu} is set in the profile or model")
    lines += [f"  kept free: {k}" for k in gpu.kept_free]
    if gpu.max_num_ctx is not None:
        lines.append(f"  largest num_ctx with every layer on the GPU: {gpu.max_num_ctx:,}")
    else:
        lines.append("  no num_ctx puts every layer on the GPU")
    lines += [f"  note: {n}" for n in gpu.notes]
    return "\n".join(lines) + "\n"


def table_blocks(rows: list[EstimateRow], report: EstimateReport) -> list[str | Table]:
    from modelctl.memory.memory import TABLE_KV_TYPES, row_cell, row_num_ctx  # not for inspect

    budget = report.budget.budget_bytes if report.budget is not None else None

    def cell(r: EstimateRow, kv: str) -> str:
        c = row_cell(r, kv)
        total = c["total_bytes"]
        text = human_bytes(total) + (" (over)" if budget is not None and total > budget else "")
        return text + (f" (as {c['kv_type']})" if c.get("kv_type", kv) != kv else "")

    unknown = "; trained context unknown, table stops at 131072" if not report.facts.context_trained else ""
    text = f"\ntotal memory (weights, KV cache and buffers), {report.memory.parallel} slot(s){unknown}:\n"
    return [
        text,
        Table(
            ("num_ctx", *(f"{kv} KV" for kv in TABLE_KV_TYPES)),
            [(f"{row_num_ctx(r):,}", *(cell(r, kv) for kv in TABLE_KV_TYPES)) for r in rows],
        ),
    ]


def estimate_result(report: EstimateReport, fmt: str = "text") -> Result:
    exit_code = report.exit_code()
    data = report.to_dict()
    errors = []
    if report.budget is not None and not report.budget.fits:
        errors.append(Diagnostic("budget", budget_problem(report.budget), field="--budget"))
    if fmt == "html":
        lines = budget_text(report.budget, report.memory.kv_type, report.memory.parallel) if report.budget else ""
        from modelctl.output.memory_html import estimate_html  # the page's module: only for --format html

        page = lambda: estimate_html(report, lines.splitlines())  # noqa: E731 - rendered only when printed
        return Result(data=data, text=page, exit_code=exit_code, warnings=report.warnings, errors=errors)
    text = estimate_text(report.memory.to_dict(), report.facts.to_dict())
    if report.budget is not None:
        text += budget_text(report.budget, report.memory.kv_type, report.memory.parallel)
    if report.gpu is not None:
        text += gpu_text(report.gpu)
    blocks: list[str | Table] = [text]
    if report.table is not None:
        blocks += table_blocks(report.table, report)
    return Result(data=data, blocks=lambda: blocks, exit_code=exit_code, warnings=report.warnings, errors=errors)
