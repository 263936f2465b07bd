from __future__ import annotations

import os
from typing import Any

import click

from modelctl.cli_common import (
    execute,
    format_option,
    output_option,
    quiet_option,
    server_options,
    set_option,
)
from modelctl.errors import Diagnostic, ExitCode, GGUFError, InvalidInput
from modelctl.output import Result, human_bytes, table

DEFAULT_NUM_CTX = 4096  # Ollama's default below ~24 GiB of VRAM (docs/memory.md)


def resolve_target(
    target: str, overrides: tuple[str, ...], host: str | None, timeout: float | None
) -> tuple[Any, dict[str, Any], int | None]:
    """TARGET -> (facts, {"kind", "ref", ...}, the profile's num_ctx or None).

    Order: a .yaml/.yml path or a profile name found by the profile search -> profile;
    another existing file or directory, a name ending in .gguf or a path starting with ./ ../ / ~
    -> GGUF; anything else -> a model on the server.
    """
    from modelctl.facts import facts_from_gguf

    lower = target.lower()
    is_file = os.path.isfile(target)
    named_profile = not is_file and not lower.endswith(".gguf") and _profile_name(target)
    if lower.endswith((".yaml", ".yml")) or named_profile:
        return _from_profile(target, overrides, host, timeout)
    looks_local = target.startswith(("./", "../", "/", "~", ".\\", "..\\"))
    if is_file or lower.endswith(".gguf") or os.path.isdir(target) or looks_local:
        if overrides:
            raise InvalidInput(f"--set applies to a PROFILE; {target} is a GGUF file", field="--set")
        return facts_from_gguf(target), {"kind": "gguf", "ref": target}, None
    if overrides:
        raise InvalidInput(f"--set applies to a PROFILE; {target} is not one", field="--set")
    from modelctl.facts import facts_from_server

    return facts_from_server(target, host=host, timeout=timeout), {"kind": "server", "ref": target}, None


def _profile_name(ref: str) -> bool:
    try:
        from modelctl.profile import resolve_ref
    except ImportError:  # pragma: no cover
        return False
    try:
        resolve_ref(ref)
    except Exception:  # noqa: BLE001 - not a profile name; treated as a model name
        return False
    return True


def _from_profile(
    ref: str, overrides: tuple[str, ...], host: str | None, timeout: float | None
) -> tuple[Any, dict[str, Any], int | None]:
    from modelctl.facts import facts_from_gguf, facts_from_server
    from modelctl.profile import load_profile

    loaded = load_profile(ref, overrides)
    prof = loaded.profile
    num_ctx: int | None = getattr(prof.parameters, "num_ctx", None)
    base = prof.base_path()
    source: dict[str, Any] = {"kind": "profile", "ref": ref, "profile": str(loaded.path), "from": prof.from_}
    if base is not None:
        if base.is_dir():
            raise InvalidInput(
                f"`from` is a directory ({base}); estimate reads GGUF files (convert or build it first, "
                "then estimate the built model)",
                file=str(loaded.path),
                field="from",
            )
        facts = facts_from_gguf(base)
        source["base"] = "gguf"
    else:
        facts = facts_from_server(prof.from_, host=host, timeout=timeout)
        source["base"] = "server"
    if num_ctx is not None:  # else the base model's own num_ctx (inherited) stays
        facts.context_configured = num_ctx
    if not facts.name or source["base"] == "gguf":
        facts.name = prof.name
    adapters: list[dict[str, Any]] = []
    for path in prof.adapter_paths():
        try:
            adapter = facts_from_gguf(path)
        except GGUFError as exc:  # e.g. a safetensors adapter: not counted, and said so
            adapters.append({"path": str(path), "weights_bytes": 0, "not_counted": exc.message})
            continue
        adapters.append({"path": str(path), "weights_bytes": adapter.weights_bytes or 0})
    source["adapters"] = adapters
    source["adapter_bytes"] = sum(a["weights_bytes"] for a in adapters)
    return facts, source, num_ctx


def _estimate_text(est: dict[str, Any], facts: dict[str, Any]) -> str:
    slots = est["parallel"]
    per_tok = est["kv_bytes_per_token"]
    lines = [
        f"model     {facts.get('name') or '-'} ({facts.get('architecture') or '?'}, "
        f"{facts.get('parameter_size') or '?'} parameters, {facts.get('quantization') or '?'})",
        f"context   num_ctx {est['num_ctx']:,} x {slots} parallel slot{'s' if slots != 1 else ''}"
        + (f" (trained: {est['context_trained']:,})" if est.get("context_trained") else ""),
        f"KV type   {est['kv_type']} ({est['kv_bytes_per_element']:g} bytes per element)",
        "",
    ]
    rows = [
        ("weights", human_bytes(est["weights_bytes"]), est["weights_source"]),
    ]
    if est.get("adapter_bytes"):
        rows.append(("adapters", human_bytes(est["adapter_bytes"]), "LoRA adapter tensors"))
    rows += [
        (
            "KV cache",
            human_bytes(est["kv_cache_bytes"]),
            f"{human_bytes(per_tok)} per token x {est['effective_num_ctx']:,} tokens x {slots}",
        ),
    ]
    if est["recurrent_state_bytes"]:
        rows.append(("recurrent state", human_bytes(est["recurrent_state_bytes"]), "fixed per slot (f32)"))
    rows.append(("overhead", human_bytes(est["overhead_bytes"]), "fixed runtime allowance"))
    rows.append(("total", human_bytes(est["total_bytes"]), f"{est['total_bytes']:,} bytes"))
    width = max(len(r[0]) for r in rows)
    vw = max(len(r[1]) for r in rows)
    lines += [f"{a.ljust(width)}  {b.rjust(vw)}  {c}" for a, b, c in rows]
    if est["assumptions"]:
        lines += ["", "assumptions:"] + [f"  - {a}" for a in est["assumptions"]]
    return "\n".join(lines) + "\n"


@click.command()
@click.argument("target", metavar="PROFILE|MODEL|FILE.gguf")
@click.option(
    "--num-ctx",
    type=click.IntRange(min=1),
    default=None,
    help=f"Context length per slot (default: the profile's num_ctx, else the server model's, else {DEFAULT_NUM_CTX}).",
)
@click.option(
    "--kv-cache",
    "kv_type",
    type=click.Choice(["f16", "q8_0", "q4_0", "f32"]),
    default="f16",
    show_default=True,
    help="KV cache type (Ollama: OLLAMA_KV_CACHE_TYPE).",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Parallel slots (Ollama: OLLAMA_NUM_PARALLEL); the cache holds num_ctx x parallel tokens.",
)
@click.option(
    "--budget",
    default=None,
    metavar="SIZE",
    help="Find the largest num_ctx whose total fits in SIZE: 12GiB, 12G (= GiB), 12000MiB, "
    "16GB (10^9 bytes), 8e9 (bytes).",
)
@click.option(
    "--table",
    "show_table",
    is_flag=True,
    help="Also print totals for 2K, 4K, ... up to the trained context x f16/q8_0/q4_0.",
)
@click.option(
    "--overhead",
    default="512MiB",
    show_default=True,
    metavar="SIZE",
    help="The fixed runtime allowance added to weights and cache (docs/memory.md).",
)
@set_option("Override a profile value (PROFILE only), e.g. --set num_ctx=16384.")
@server_options
@format_option("text", "json")
@output_option
@quiet_option
def estimate(
    target: str,
    num_ctx: int | None,
    kv_type: str,
    parallel: int,
    budget: str | None,
    show_table: bool,
    overhead: str,
    overrides: tuple[str, ...],
    host: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    quiet: bool,
) -> None:
    """Memory a model needs: weights + KV cache + a fixed overhead, for a GGUF file, a profile
    (its `from` and num_ctx) or a model on the server. Units are binary (GiB = 2^30 bytes).

    \b
    KV cache = parallel x num_ctx x sum over attention layers of
               KV heads x (key_length + value_length) x bytes per element
    bytes per element: f16 2, q8_0 34/32, q4_0 18/32, f32 4 (docs/memory.md)."""

    def body() -> Result:
        from modelctl.memory import (
            context_sizes,
            estimate_for_facts,
            estimate_table,
            max_num_ctx_for_budget,
            parse_size,
        )

        overhead_bytes = parse_size(overhead, what="--overhead", allow_zero=True)
        budget_bytes = parse_size(budget, what="--budget") if budget is not None else None
        facts, source, profile_ctx = resolve_target(target, overrides, host, timeout)
        warnings: list[Diagnostic] = []
        ctx_note = None
        n = num_ctx or profile_ctx or facts.context_configured
        if n is None:
            n = DEFAULT_NUM_CTX
            ctx_note = (
                f"num_ctx not set: using {DEFAULT_NUM_CTX}, Ollama's default below ~24 GiB of VRAM "
                "(32768 below ~48 GiB, 262144 above, or OLLAMA_CONTEXT_LENGTH)"
            )
        adapter_bytes = int(source.get("adapter_bytes") or 0)
        est = estimate_for_facts(
            facts, n, kv_type, parallel, overhead_bytes=overhead_bytes, adapter_bytes=adapter_bytes
        )
        if ctx_note:
            est.assumptions.insert(0, ctx_note)
        for a in source.get("adapters") or []:
            if a.get("not_counted"):
                est.assumptions.append(f"adapter {a['path']} not counted: {a['not_counted']}")
        if est.exceeds_trained:
            warnings.append(
                Diagnostic(
                    "num_ctx_above_trained",
                    f"num_ctx {n} exceeds the trained context {facts.context_trained}; Ollama caps it there",
                    field="num_ctx",
                )
            )
        facts_d = facts.to_dict()
        data: dict[str, Any] = {
            "target": source,
            "model": facts_d,
            "estimate": est.to_dict(),
            "budget": None,
            "table": None,
        }
        text = _estimate_text(data["estimate"], facts_d)
        ok, code, errors = True, ExitCode.OK, []
        if budget_bytes is not None:
            res = max_num_ctx_for_budget(
                facts, budget_bytes, kv_type, parallel, overhead_bytes=overhead_bytes, adapter_bytes=adapter_bytes
            )
            data["budget"] = res.to_dict()
            text += (
                f"\nbudget {human_bytes(budget_bytes)} ({budget_bytes:,} bytes), KV {kv_type}, {parallel} slot(s):\n"
            )
            if res.num_ctx is None:
                ok, code = False, ExitCode.INVALID
                msg = (
                    f"does not fit in {human_bytes(budget_bytes)}: even num_ctx 1 needs "
                    f"{human_bytes(res.minimum_total_bytes)} (weights + overhead)"
                )
                errors.append(Diagnostic("budget", msg, field="--budget"))
                text += f"  {msg}\n"
            else:
                assert res.estimate is not None
                text += f"  largest num_ctx that fits: {res.num_ctx:,} (total {human_bytes(res.estimate.total_bytes)}"
                if res.limited_by == "budget" and res.next_total_bytes is not None:
                    text += f"; {res.num_ctx + 1:,} would need {res.next_total_bytes:,} bytes)\n"
                else:
                    text += f"; capped by the {res.limited_by} {res.search_limit:,})\n"
        if show_table:
            sizes = context_sizes(facts.context_trained, n)
            rows = estimate_table(
                facts, sizes, parallel=parallel, overhead_bytes=overhead_bytes, adapter_bytes=adapter_bytes
            )
            data["table"] = rows
            kvs = ("f16", "q8_0", "q4_0")

            def cell(r: dict[str, Any], kv: str) -> str:
                total = r[kv]["total_bytes"]
                s = human_bytes(total)
                if budget_bytes is not None and total > budget_bytes:
                    s += " (over)"
                return s

            unknown = "; trained context unknown, table stops at 131072" if not facts.context_trained else ""
            text += f"\ntotal memory (weights + KV cache + overhead), {parallel} slot(s){unknown}:\n"
            text += table(
                ("num_ctx", *(f"{kv} KV" for kv in kvs)),
                [(f"{r['num_ctx']:,}", *(cell(r, kv) for kv in kvs)) for r in rows],
            )
        return Result(data=data, text=text, ok=ok, exit_code=code, warnings=warnings, errors=errors)

    execute("estimate", fmt, body, output=output, quiet=quiet)
