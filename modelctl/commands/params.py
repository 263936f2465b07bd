from __future__ import annotations

import click

from modelctl.cli_common import execute, format_option
from modelctl.errors import InvalidInput
from modelctl.output import Result, table


@click.command()
@click.argument("name", required=False)
@click.option("--removed", is_flag=True, help="List the parameters Ollama removed, with the version.")
@format_option("text", "json")
def params(name: str | None, removed: bool, fmt: str) -> None:
    """The Ollama parameter reference: type, default, range, load-time or per request.

    Load-time parameters (num_ctx, num_batch, num_gpu, ...) reload the model when they
    change; the others apply per request."""

    def body() -> Result:
        from modelctl import params as P

        if name:
            if name in P.REMOVED_BY_NAME:
                r = P.REMOVED_BY_NAME[name]
                data = {
                    "name": r.name,
                    "removed_in": r.removed_in,
                    "instead": r.instead,
                    "ollama_create": r.cli_behaviour,
                }
                text = (
                    f"{r.name}: removed in Ollama {r.removed_in}\n  use instead: {r.instead}\n"
                    f"  ollama create today: {r.cli_behaviour}\n"
                )
                return Result(data=data, text=text)
            if name not in P.BY_NAME:
                hint = P.suggest(name, [*P.BY_NAME, *P.REMOVED_BY_NAME])
                raise InvalidInput(
                    f"unknown parameter '{name}'" + (f" (did you mean '{hint}'?)" if hint else ""),
                    field=name,
                    code="unknown_parameter",
                )
            p = P.BY_NAME[name]
            level = "load-time: changing it reloads the model" if p.level == "load" else "per request"
            text = (
                f"{p.name}  ({p.type}, {level})\n"
                f"  {p.meaning}\n  default: {p.default_note}\n  range:   {p.range_text}\n"
                + (f"  since:   Ollama {p.since}\n" if p.since else "")
            )
            return Result(data=p.to_dict(), text=text)
        if removed:
            rows = [(r.name, r.removed_in, r.instead, r.cli_behaviour) for r in P.REMOVED]
            return Result(
                data=[
                    {"name": r.name, "removed_in": r.removed_in, "instead": r.instead, "ollama_create": r.cli_behaviour}
                    for r in P.REMOVED
                ],
                text=table(("name", "removed in", "use instead", "ollama create"), rows),
            )
        prows = [(p.name, p.type, p.default_note, p.range_text, p.level, p.meaning) for p in P.CATALOGUE]
        import shutil

        width = shutil.get_terminal_size((120, 24)).columns
        return Result(
            data=[p.to_dict() for p in P.CATALOGUE],
            text=table(("name", "type", "default", "range", "level", "meaning"), prows, max_width=width),
        )

    execute("params", fmt, body)
