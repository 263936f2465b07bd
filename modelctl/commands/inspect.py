from __future__ import annotations

from typing import Any

import click

from modelctl.cli_common import execute, format_option, output_option, quiet_option
from modelctl.output import Result, human_bytes


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


@click.command()
@click.argument("file", metavar="FILE.gguf", type=click.Path(dir_okay=True, path_type=str))
@format_option("text", "json")
@output_option
@quiet_option
def inspect(file: str, fmt: str, output: str | None, quiet: bool) -> None:
    """Model facts from a local GGUF file, without a server and without reading tensor data:
    architecture, parameter count, quantization (file type, tensor types, bits per weight),
    trained context length, embedding length, layers, attention and KV heads, key/value
    lengths, vocabulary, tokenizer, chat template and file size. Sizes are binary (GiB).

    The JSON keys are the ones the build report uses (docs/concepts.md)."""

    def body() -> Result:
        from modelctl.errors import ModelctlError
        from modelctl.facts import facts_from_gguf

        facts = facts_from_gguf(file)
        data = facts.to_dict()
        data["gguf_version"] = facts.gguf_version
        per_token: float | None = None
        try:
            from modelctl.memory import estimate_for_facts

            est = estimate_for_facts(facts, 1)
            per_token = est.kv_bytes_per_token
            data["kv_bytes_per_token_f16"] = per_token
        except ModelctlError:
            data["kv_bytes_per_token_f16"] = None
        return Result(data=data, text=lambda: render_facts_text(data, per_token))

    execute("inspect", fmt, body, output=output, quiet=quiet)
