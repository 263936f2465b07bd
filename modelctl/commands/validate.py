from __future__ import annotations

import click

from modelctl.cli_common import execute, format_option, output_option, quiet_option, set_option
from modelctl.errors import ExitCode, ModelctlError
from modelctl.output import Result


@click.command()
@click.argument("profiles", nargs=-1, required=True, metavar="PROFILE...")
@set_option()
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@format_option("text", "json")
@output_option
@quiet_option
def validate(
    profiles: tuple[str, ...], overrides: tuple[str, ...], strict: bool, fmt: str, output: str | None, quiet: bool
) -> None:
    """Check profiles without a server: schema, ranges, extends, and that they render to a
    Modelfile Ollama reads back exactly. PROFILE is a path or a name in ./profiles or
    $MODELCTL_PROFILES. Exit 1 if any profile is invalid."""

    def body() -> Result:
        from modelctl.profile import load_profile
        from modelctl.render import render

        items = []
        warnings = []
        errors = []
        for ref in profiles:
            try:
                loaded = load_profile(ref, overrides)
                render(loaded)
            except ModelctlError as exc:
                diags = exc.diagnostics()
                errors += diags
                items.append(
                    {"profile": ref, "ok": False, "name": None, "errors": [d.to_dict() for d in diags], "warnings": []}
                )
                continue
            warnings += loaded.warnings
            ok = not (strict and loaded.warnings)
            items.append(
                {
                    "profile": ref,
                    "ok": ok,
                    "name": loaded.profile.name,
                    "from": loaded.profile.from_,
                    "errors": [],
                    "warnings": [w.to_dict() for w in loaded.warnings],
                }
            )
        all_ok = all(i["ok"] for i in items)
        lines = []
        for i in items:
            if i["ok"]:
                lines.append(f"ok      {i['profile']} ({i['name']} from {i['from']})")
            else:
                lines.append(f"invalid {i['profile']}")
        return Result(
            data={
                "profiles": items,
                "valid": sum(1 for i in items if i["ok"]),
                "invalid": sum(1 for i in items if not i["ok"]),
            },
            text="" if quiet else "\n".join(lines) + "\n",
            ok=all_ok,
            exit_code=ExitCode.OK if all_ok else ExitCode.INVALID,
            warnings=warnings,
            errors=errors,
        )

    execute("validate", fmt, body, output=output, quiet=quiet)
