"""Generate the reference pages that must never drift from the code.

``python -m modelctl._docgen`` rewrites docs/cli.md (from each command's --help),
docs/parameters.md (from the catalogue) and docs/exit-codes.md (from errors.py);
tests/test_docs.py fails when a committed page differs from what this produces.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from modelctl.cli import COMMANDS, cli
from modelctl.common.limits import LIMITS, Limit
from modelctl.common.units import human_bytes
from modelctl.errors import EXIT_CODE_MEANINGS, PRECEDENCE
from modelctl.profile import params as P

DOCS = Path(__file__).resolve().parent.parent / "docs"
WIDTH = 100


def _context(cmd: click.Command, name: str, parent: click.Context | None) -> click.Context:
    # The group's context_settings (e.g. -h as a help option) apply as they do on the command line.
    settings = {**(parent.command.context_settings if parent else cmd.context_settings)}
    settings.update(terminal_width=WIDTH, max_content_width=WIDTH)
    return click.Context(cmd, info_name=name, parent=parent, **settings)


def _help(cmd: click.Command, name: str, parent: click.Context | None) -> str:
    return cmd.get_help(_context(cmd, name, parent))


def cli_reference() -> str:
    root = _context(cli, "modelctl", None)
    out = [
        "# CLI reference",
        "",
        "Generated from `--help` by `python -m modelctl._docgen`; a test keeps it in sync.",
        "",
        "Shell completion of commands, options and profile names comes from click: add",
        '`eval "$(_MODELCTL_COMPLETE=bash_source modelctl)"` to `~/.bashrc` (`zsh_source` for zsh;',
        "`_MODELCTL_COMPLETE=fish_source modelctl | source` for fish).",
        "",
        "```text",
        cli.get_help(root),
        "```",
        "",
    ]
    for name in COMMANDS:
        cmd = cli.get_command(root, name)
        if cmd is None:
            continue
        out += [f"## modelctl {name}", "", "```text", _help(cmd, name, root), "```", ""]
    return "\n".join(out)


def parameters_reference() -> str:
    out = [
        "# Parameter reference",
        "",
        "Generated from `modelctl/profile/params.py` by `python -m modelctl._docgen`. Every parameter current",
        "Ollama accepts (`api/types.go` `Options` and `Runner`). **Load-time** parameters configure the",
        "runner: a request whose load-time values differ from the loaded model's reloads it.",
        "**Per-request** parameters apply to each generation. Profiles are validated against the",
        "types and ranges below; the server itself checks nothing at create time, and a wrongly",
        "typed stored value breaks every later request to that model (HTTP 500).",
        "",
        "| name | type | default | range | level | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for p in P.CATALOGUE:
        since = f" (since Ollama {p.since})" if p.since else ""
        out.append(f"| `{p.name}` | {p.type} | {p.default_note} | {p.range_text} | {p.level} | {p.meaning}{since} |")
    out += [
        "",
        "Warnings (not errors) from `validate`: "
        + "; ".join(
            f"`{p.name}` above {p.warn_above:g}" + (f" or below {p.warn_below:g}" if p.warn_below is not None else "")
            for p in P.CATALOGUE
            if p.warn_above is not None
        )
        + "; any custom `stop` list (it replaces the model's own stop tokens); an empty `system` or"
        " `template` (it cannot clear the inherited one); `num_ctx` above a local GGUF's trained context.",
        "",
        "## Removed parameters",
        "",
        "A profile that sets one of these is an error that names the version and what to use instead.",
        "",
        "| name | removed in Ollama | use instead | what `ollama create` does today |",
        "|---|---|---|---|",
    ]
    for r in P.REMOVED:
        out.append(f"| `{r.name}` | {r.removed_in} | {r.instead} | {r.cli_behaviour} |")
    out.append("")
    return "\n".join(out)


def exit_codes_reference() -> str:
    out = [
        "# Exit codes",
        "",
        "Generated from `modelctl/errors.py` by `python -m modelctl._docgen`. Every command uses this table;",
        "scripts and CI can rely on it.",
        "",
        "| code | meaning |",
        "|---|---|",
    ]
    for code, meaning in EXIT_CODE_MEANINGS.items():
        out.append(f"| {int(code)} | {meaning} |")
    order = " over ".join(str(int(c)) for c in PRECEDENCE)
    out += [
        "",
        "A run over several hosts, profiles or models (`build`, `plan`, `show`, `compare`, `validate --host`,",
        f"`rm`) ends with one code, the first of these that occurred: {order}. Broken input and usage come",
        "first (they stop a run before any server is asked), then a server that cannot be reached, one that",
        "failed, a failed check on a model, drift. `compare`'s parameter table on several hosts prints every",
        "host's table and takes this rule too (one server's table: an unreachable server is a note, exit 0).",
        "",
        "A command prints one line per problem on stderr (`error: file:line:column: field: message`), or, with",
        "`--format json`, the envelope with `ok: false` and the `errors` list (docs/json.md). No traceback",
        "reaches the terminal unless `MODELCTL_DEBUG=1` is set.",
        "",
    ]
    return "\n".join(out)


def _limit_text(limit: Limit) -> str:
    if limit.unit != "bytes":
        return f"{limit.default:,} {limit.unit}"
    return f"{human_bytes(limit.default)} ({limit.default:,} bytes)"


def limits_reference() -> str:
    out = [
        "# Limits",
        "",
        "Generated from `modelctl/common/limits.py` by `python -m modelctl._docgen`. modelctl bounds everything it",
        "reads, so a file that never ends or a server that answers forever cannot hang it or exhaust memory.",
        "Each default is far above any legitimate input; set the environment variable to raise a limit",
        "(sizes may be written `64MiB`, `1GB` or in bytes). Going over a limit is an error with the documented",
        "exit code (1 for local input, 4 or 5 for a server), naming the limit and its variable.",
        "",
        "| variable | default | bounds | why |",
        "|---|---|---|---|",
    ]
    out += [f"| `{lim.env}` | {_limit_text(lim)} | {lim.what} | {lim.why} |" for lim in LIMITS]
    out.append("")
    return "\n".join(out)


PAGES = {
    "cli.md": cli_reference,
    "parameters.md": parameters_reference,
    "exit-codes.md": exit_codes_reference,
    "limits.md": limits_reference,
}


def main() -> int:
    DOCS.mkdir(exist_ok=True)
    for name, fn in PAGES.items():
        (DOCS / name).write_text(fn(), encoding="utf-8")
        print(f"wrote docs/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
