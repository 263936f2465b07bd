"""Rewrite references to modelctl's modules from the flat layout to the packages (docs/architecture.md).

Run from a checkout: ``python tools/remap_modules.py [PATH...]`` (default: modelctl tests bench docs
README.md pyproject.toml). It rewrites ``from modelctl.X import``, ``import modelctl.X``,
``from modelctl import X``, dotted strings such as ``"modelctl.server.OllamaClient"`` and paths such as
``modelctl/server.py``. Running it twice changes nothing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# old module -> new dotted path under modelctl
MAP: dict[str, str] = {
    # shared
    "files": "common.files",
    "limits": "common.limits",
    "units": "common.units",
    "events": "common.events",
    "escape": "common.escape",
    # Ollama: HTTP and wire formats
    "server": "ollama.server",
    "session": "ollama.session",
    "answers": "ollama.answers",
    "wire": "ollama.wire",
    "truncation": "ollama.truncation",
    "_httpx": "ollama._httpx",
    "registry": "ollama.registry",
    # profiles
    "profile": "profile.profile",
    "yamlio": "profile.yamlio",
    "params": "profile.params",
    "derive": "profile.derive",
    "prompts": "profile.prompts",
    "inventory": "profile.inventory",
    "names": "profile.names",
    # Modelfiles
    "modelfile": "modelfile.grammar",
    "render": "modelfile.render",
    "sandbox": "modelfile.sandbox",
    "gotemplate": "modelfile.gotemplate",
    "importer": "modelfile.importer",
    # memory and model facts
    "memory": "memory.memory",
    "offload": "memory.offload",
    "effective": "memory.effective",
    "facts": "memory.facts",
    "gguf": "memory.gguf",
    # jobs
    **{
        m: f"jobs.{m}"
        for m in [
            "build",
            "fleet",
            "plan",
            "drift",
            "lock",
            "show",
            "housekeeping",
            "validate",
            "lint",
            "run",
            "chat",
            "compare",
            "matrix",
            "table",
            "sweep",
            "probe",
            "explain",
            "estimate",
            "model_import",
            "residency",
        ]
    },
}
PACKAGES = {v.split(".")[0] for v in MAP.values()}
MEMBERS = {pkg: {v.split(".")[1] for v in MAP.values() if v.startswith(pkg + ".")} for pkg in PACKAGES}

_NAMES = "|".join(sorted(MAP, key=len, reverse=True))
_DOTTED = re.compile(rf"(?<![\w.])modelctl\.({_NAMES})(?![\w])(\.\w+)?(\s+import\s+[\w, ]+)?")
_PATH = re.compile(rf"(?<![\w/])modelctl/({_NAMES})\.py\b")
_FROM_PKG = re.compile(r"^(\s*)from modelctl import ([\w, ]+?)\s*$", re.M)


def _dotted(m: re.Match[str]) -> str:
    old, attr, imported = m.group(1), m.group(2) or "", m.group(3) or ""
    if old == "lock" and not attr and not imported and not m.string[: m.start()].endswith("import "):
        return m.group(0)  # the lock file modelctl.lock, not the module
    if old in PACKAGES:  # already the new layout? modelctl.profile.yamlio, from modelctl.memory import memory
        if attr and attr[1:] in MEMBERS[old]:
            return m.group(0)
        names = [n.strip().split(" as ")[0] for n in imported.split("import", 1)[-1].split(",")] if imported else []
        if names and all(n in MEMBERS[old] for n in names):
            return m.group(0)
    return f"modelctl.{MAP[old]}{attr}{imported}"


def _from_pkg(m: re.Match[str]) -> str:
    indent, names = m.group(1), [n.strip() for n in m.group(2).split(",") if n.strip()]
    keep: list[str] = []
    groups: dict[str, list[str]] = {}
    for item in names:
        base = item.split(" as ")[0].strip()
        if base in MAP:
            pkg, mod = MAP[base].split(".")
            groups.setdefault(pkg, []).append(mod + item[len(base) :])
        else:
            keep.append(item)
    lines = [f"{indent}from modelctl import {', '.join(keep)}"] if keep else []
    lines += [f"{indent}from modelctl.{pkg} import {', '.join(mods)}" for pkg, mods in groups.items()]
    return "\n".join(lines)


def rewrite(text: str) -> str:
    text = _FROM_PKG.sub(_from_pkg, text)
    text = _DOTTED.sub(_dotted, text)
    return _PATH.sub(lambda m: f"modelctl/{MAP[m.group(1)].replace('.', '/')}.py", text)


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [
        Path(p) for p in ("modelctl", "tests", "bench", "docs", "README.md", "pyproject.toml")
    ]
    for root in roots:
        files = (
            [root]
            if root.is_file()
            else [
                p
                for p in root.rglob("*")
                if p.suffix in {".py", ".md", ".toml", ".txt", ".j2", ".html", ".yaml", ".yml", ".cfg"}
            ]
        )
        for path in files:
            if ".venv" in path.parts or path.as_posix().endswith("docs/api.md"):  # its table names the old modules
                continue
            old = path.read_text(encoding="utf-8")
            new = rewrite(old)
            if new != old:
                path.write_text(new, encoding="utf-8")
                print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
