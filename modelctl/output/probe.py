"""Writer for ``probe``: the largest prompt the runner takes uncut, beside the model's contexts."""

from __future__ import annotations

import textwrap

from modelctl.errors import Diagnostic
from modelctl.jobs.probe import ProbeReport
from modelctl.output import Result
from modelctl.output.text import Table, terminal_width


def _n(x: int | None) -> str:
    return "-" if x is None else f"{x:,}"


def largest_text(r: ProbeReport) -> str:
    """``8,192 tokens`` with how it was bounded: refused above, or at least (--max-context)."""
    if r.largest is None:
        return "none: the runner refused even the shortest prompt"
    if r.bounded and r.max_context:
        return f"at least {r.largest:,} tokens (the search stopped at --max-context {r.max_context:,})"
    if r.bounded:
        return f"at least {r.largest:,} tokens (the search stopped there, past the running context)"
    above = f"a prompt of {r.refused:,} tokens was refused" if r.refused else "one word more was refused"
    return f"{r.largest:,} tokens ({above})"


def probe_rows(r: ProbeReport) -> list[list[str]]:
    return [
        ["model", f"{r.target.model}" + (" (ephemeral)" if r.target.ephemeral else "")],
        ["server", f"{r.server.host} (Ollama {r.server.version})"],
        ["largest prompt taken uncut", largest_text(r)],
        ["trained context", _n(r.trained)],
        ["configured (num_ctx)", _n(r.configured) if r.configured else "auto (the server's default)"],
        ["running (/api/ps)", _n(r.runtime)],
        ["requests", f"{r.requests} ({r.wall_s:.2f} s)"],
    ]


def check(r: ProbeReport) -> Diagnostic | None:
    """``--min-context``: the failed check, or None."""
    if r.passed is not False:
        return None
    if r.never_refused:
        return Diagnostic(
            "check_failed",
            f"--min-context {r.min_context:,} cannot be checked: the runner took a prompt of {_n(r.largest)} tokens, "
            "past its context, and the server never refused one (truncate: false), so it may cut prompts "
            "silently",
        )
    return Diagnostic(
        "check_failed",
        f"the runner takes {_n(r.largest)} tokens of prompt uncut, below --min-context {r.min_context:,}",
    )


def probe_result(r: ProbeReport) -> Result:
    failed = check(r)
    legend = (
        "tokens = the server's prompt_eval_count of a raw prompt (no template): the whole rendered prompt "
        "(template, system prompt, history and text) must fit in it"
    )
    return Result(
        data=r.to_dict(),
        blocks=lambda: [
            Table(["", r.target.label], probe_rows(r)),
            "\n" + textwrap.fill(legend, terminal_width()) + "\n",
        ],
        exit_code=r.exit_code(),
        warnings=r.warnings,
        errors=[failed] if failed else [],
    )
