"""The package's layering (design.md §3), read from the code's own imports.

Three layers, imports only downward: the face (``cli``, ``cli_common``, ``commands/``), the
writers (``output/``) and the core (every other module, importable without click). Imports
made inside functions count: a cycle hidden behind a function-level import is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "modelctl"

FACE = ("modelctl.cli", "modelctl.cli_common", "modelctl.commands", "modelctl._docgen", "modelctl.__main__")
WRITERS = ("modelctl.output",)

#: Imports a core or writer module may make inside a function: the heavy third-party packages
#: (they would slow down every command that imports the module), and standard-library modules
#: that modules on the ``--help`` path load only when they are used.
LAZY_IMPORTS_ALLOWED = {
    "modelctl.modelfile.render": {"jinja2", "jinja2.sandbox", "jinja2.exceptions", "traceback", "difflib"},
    "modelctl.modelfile.sandbox": {
        "jinja2",
        "jinja2.sandbox",
        "jinja2.exceptions",
        "jinja2.runtime",
        "jinja2.utils",
        "jinja2.visitor",
    },
    "modelctl.profile.yamlio": {"yaml"},
    "modelctl.modelfile.importer": {"yaml"},
    "modelctl.ollama.server": {"ollama"},
    "modelctl.cli_common": {
        "traceback",
        "click.shell_completion",
        "modelctl.profile.profile",
        "modelctl.output.failure",
    },
    "modelctl.common.files": {"tempfile", "fcntl", "hashlib"},
    "modelctl.common.units": {"json"},
    "modelctl.output": {"json"},
    "modelctl.profile.params": {"difflib"},
    "modelctl.output.term": {"rich.console", "rich.text"},
    "modelctl.output.text": {"rich", "rich.table", "rich.text"},
    "modelctl.output.html": {"jinja2", "markupsafe"},
    "modelctl.output.chat": {"readline"},
    "modelctl.output.progress": {"rich.progress", "rich.text"},
    "modelctl.output.facts": {"modelctl.output.memory_html", "modelctl.memory.memory"},  # inspect imports this module
    "modelctl.memory.facts": {"modelctl.ollama.wire"},  # and this one: /api/show's parameters for show only
    # plan and build import these: the jobs only some of their paths run load when those run
    "modelctl.jobs.fleet": {"modelctl.jobs.compare", "modelctl.jobs.show"},
    "modelctl.jobs.build": {"modelctl.jobs.show"},
    "modelctl.jobs.lock": {"modelctl.memory.facts"},
    "modelctl.jobs.profiles": {"modelctl.memory.facts"},
}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The package module an import names (``modelctl.errors.Diagnostic`` -> ``modelctl.errors``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports(module: str) -> tuple[set[str], list[tuple[str, bool]]]:
    """(package modules imported anywhere, [(any module imported, inside a function?)])."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    inner: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner.update(id(sub) for sub in ast.walk(node) if isinstance(sub, (ast.Import, ast.ImportFrom)))
    package: set[str] = set()
    every: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for n in names:
            every.append((n, id(node) in inner))
            target = _resolve(n) if n.startswith("modelctl") else None
            if target is not None and target != module and target != "modelctl":
                package.add(target)
    return package, every


GRAPH = {m: imports(m)[0] for m in MODULES}


def _in(module: str, layer: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in layer)


def test_no_import_cycle() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert cycles == []


def test_core_never_imports_the_command_line_or_the_writers() -> None:
    for module, deps in GRAPH.items():
        if _in(module, FACE) or _in(module, WRITERS) or module == "modelctl.api":
            continue
        bad = {d for d in deps if _in(d, FACE) or _in(d, WRITERS) or d == "modelctl.api"}
        assert not bad, f"{module} (core) imports {sorted(bad)}"
        assert not any(n == "click" or n.startswith("click.") for n, _ in imports(module)[1]), module


def test_writers_never_import_the_command_line() -> None:
    for module, deps in GRAPH.items():
        if _in(module, WRITERS):
            assert not {d for d in deps if _in(d, FACE)}, module


def test_function_level_imports_only_where_they_keep_startup_fast() -> None:
    """Inside commands/, a command imports the job and writer it calls in its body; everywhere
    else a function-level import is a heavy third-party package or a listed exception."""
    for module in MODULES:
        lazy = {n for n, inner in imports(module)[1] if inner}
        if _in(module, ("modelctl.commands",)):
            assert all(n.startswith("modelctl.") for n in lazy), (module, lazy)
            continue
        if module == "modelctl.cli":
            continue  # the lazy command group imports commands by name
        allowed = LAZY_IMPORTS_ALLOWED.get(module, set())
        extra = {n for n in lazy if n not in allowed and n.rpartition(".")[0] not in allowed}
        assert not extra, f"{module} imports inside functions: {sorted(extra)}"


def test_commands_import_only_the_light_shared_modules_at_module_level() -> None:
    light = {"modelctl.cli_common", "modelctl.errors", "modelctl.output", "modelctl.profile.params"}
    for module in MODULES:
        if not _in(module, ("modelctl.commands",)):
            continue
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("modelctl"):
                assert _resolve(node.module) in light, (module, node.module)


def test_every_module_is_in_the_architecture_page() -> None:
    """docs/architecture.md names every core module (no module appears without a stated job)."""
    design = (Path(__file__).resolve().parent.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for module in MODULES:
        short = module.removeprefix("modelctl.").replace(".", "/")
        if MODULES[module].name == "__init__.py" or short.startswith(("commands/", "output/")):
            continue
        assert f"{short}.py" in design, f"docs/architecture.md does not mention {short}.py"


#: The rooms of the core (design.md §3), each a package under modelctl/.
ROOMS = ("common", "ollama", "profile", "modelfile", "memory", "jobs")

#: The arrows allowed between rooms: a room, or one module of a room (``ollama.wire``). A room may
#: always import itself and ``modelctl.errors``. Imports inside functions count.
ALLOWED_ARROWS: dict[str, set[str]] = {
    "common": set(),  # the ground floor: nothing of modelctl's but errors
    "ollama": {"common", "profile.params"},  # wire: /api/show parameters typed by the catalogue
    "profile": {"common", "modelfile", "ollama.wire", "ollama.hosts", "ollama.registry"},
    "modelfile": {"common", "profile", "ollama.wire"},
    "memory": {"common", "profile", "ollama"},
    "jobs": {"common", "profile", "modelfile", "ollama", "memory"},
}

#: Ollama's network modules: what profiles, Modelfiles and the shared modules never reach.
NETWORK = {"modelctl.ollama.server", "modelctl.ollama.session", "modelctl.ollama._httpx"}


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else None


def _closure(module: str) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        for dep in GRAPH[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_every_core_module_lives_in_a_room() -> None:
    top = {m for m in MODULES if m.count(".") == 1 and m.split(".")[1] not in (*ROOMS, "commands", "output")}
    assert top <= {"modelctl.api", "modelctl.cli", "modelctl.cli_common", "modelctl.errors", "modelctl._docgen",
                   "modelctl.__main__"}, top  # fmt: skip
    assert len(list(PACKAGE.glob("*.py"))) <= 10


def test_imports_between_rooms_follow_the_table() -> None:
    bad: list[str] = []
    for module, deps in GRAPH.items():
        room = _room(module)
        if room is None:
            continue
        for dep in deps:
            other = _room(dep)
            if other == room or dep in ("modelctl.errors", "modelctl"):
                continue
            short = dep.removeprefix("modelctl.")
            if other is None or (other not in ALLOWED_ARROWS[room] and short not in ALLOWED_ARROWS[room]):
                bad.append(f"{module} -> {dep}")
    assert bad == []


def test_profiles_and_modelfiles_never_reach_the_network_or_memory() -> None:
    """Not even through another module: loading or rendering a profile opens no connection and reads
    no GGUF header (design.md §3)."""
    for module in MODULES:
        if _room(module) in ("profile", "modelfile", "common"):
            reached = _closure(module)
            assert not reached & NETWORK, (module, sorted(reached & NETWORK))
            assert not {d for d in reached if _room(d) in ("memory", "jobs")}, module


def test_memory_and_ollama_never_import_jobs() -> None:
    for module, deps in GRAPH.items():
        if _room(module) in ("memory", "ollama"):
            assert not {d for d in deps if _room(d) == "jobs"}, module


def test_rooms_are_private_behind_the_api() -> None:
    """The library's names are modelctl.api's: every room says so with an empty ``__all__``, and says
    in its docstring what it holds and what it may import (docs/architecture.md)."""
    for room in ROOMS:
        tree = ast.parse((PACKAGE / room / "__init__.py").read_text(encoding="utf-8"))
        doc = ast.get_docstring(tree) or ""
        assert "May import" in doc and "modelctl.api" in doc, room
        declared = [
            node.value
            for node in tree.body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "__all__"
        ]
        assert len(declared) == 1 and isinstance(declared[0], ast.List) and declared[0].elts == [], room


def test_the_docs_import_only_the_library_face() -> None:
    """Code in the docs imports ``modelctl.api`` (or ``modelctl``), never a module behind it."""
    import re

    docs = Path(__file__).resolve().parent.parent / "docs"
    found = []
    for page in [*docs.glob("*.md"), docs.parent / "README.md"]:
        for block in re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            found += [
                m
                for m in re.findall(r"(?:from|import) (modelctl[\w.]*)", block)
                if m not in ("modelctl", "modelctl.api")
            ]
    assert found == []


def test_one_home_for_the_kv_cache_types_and_the_terminal_width() -> None:
    """The KV cache types Ollama takes are listed once (``profile/params.py``), the terminal's width is
    read once (``modelctl.terminal_columns``): every other module imports them."""
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path != PACKAGE / "profile" / "params.py":
            assert '"q8_0", "q4_0"' not in text, path
        if path != PACKAGE / "__init__.py":
            assert "get_terminal_size()" not in text, path
