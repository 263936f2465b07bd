"""The docs show what the commands print today: every ```console block of the tutorial and of the
concepts pages (English and Portuguese) is run against the Ollama API double and compared.

A block is a session: ``$ COMMAND`` lines, each followed by what it prints (stdout and stderr as
a terminal shows them). ``...`` on a line of its own stands for any lines; ``$ cat FILE``
shows a file an earlier command wrote, or else writes FILE with the lines shown (so the
reader sees the file the next command uses); ``$ echo $?`` shows the previous exit code.
A block after the line ``<!-- fresh checkout -->`` starts again in a new folder (the page's files
only) against a new server, as a CI job does.
The server's address is written as the tutorial's (``http://127.0.0.1:11598``); durations,
speeds and "x minutes ago" are compared as such, not by value, and so is the width of the
gaps between columns. When the commands' output changes on purpose, rewrite the blocks from
what they print:

    python -m tests.test_tutorial --write      # then read the diff: it is the docs' new text
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fixtures_gguf import write_big_header_gguf, write_tiny_llama
from tests.ollama_double import OllamaDouble, parse_name

REPO = Path(__file__).resolve().parent.parent
SHOWN_HOST = "http://127.0.0.1:11598"

_BLOCK = re.compile(r"^```console\n(.*?)^```", re.S | re.M)
FRESH = "<!-- fresh checkout -->"
_NORMALIZE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:ns|µs|ms|s)\b"), "<duration>"),
    (re.compile(r"\b(?:Less than a second|About a minute|About an hour|\d+ (?:seconds?|minutes|hours))\b"), "<time>"),
    (re.compile(r"generated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"), "generated <date>"),
    # the double reports speeds from the real time it took: a rate is compared as a rate
    (re.compile(r"\b\d+(?:\.\d+)? tok/s\b"), "<rate> tok/s"),
    (re.compile(r"(?m)^(\S+ +\d+/\d+ +)\d+(?:\.\d+)?\b"), r"\1<rate>"),  # compare's summary: tok/s (median)
    (re.compile(r"[ \t]+$", re.M), ""),
    (re.compile(r"(?<=\S) {2,}"), "  "),  # column widths follow the (normalized) values
    (re.compile(r"-{3,}"), "---"),  # and so do the rules under a table's headers
]


@dataclass
class Step:
    command: str
    expected: list[str]
    line: int  # of the command, in the page (1-based)


@dataclass
class Block:
    start: int  # offset of the block's text in the page
    end: int
    steps: list[Step] = field(default_factory=list)
    fresh: bool = False  # a new folder and a new server (a CI job on a fresh checkout)


def blocks(page: str) -> list[Block]:
    out = []
    for m in _BLOCK.finditer(page):
        block = Block(m.start(1), m.end(1), fresh=page[: m.start()].rstrip().endswith(FRESH))
        first = page.count("\n", 0, m.start(1)) + 1
        for i, line in enumerate(m.group(1).splitlines()):
            if line.startswith("$ "):
                block.steps.append(Step(line[2:], [], first + i))
            elif block.steps:
                block.steps[-1].expected.append(line)
        out.append(block)
    return out


def normalize(text: str) -> str:
    for pattern, repl in _NORMALIZE:
        text = pattern.sub(repl, text)
    return text.rstrip("\n")


def matches(expected: list[str], actual: list[str]) -> bool:
    """``expected`` against ``actual``, where a ``...`` line stands for any lines (none included)."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and matches(expected[1:], actual[1:])


class Session:
    """The commands of one page, in order, in one folder, against one double."""

    def __init__(self, workdir: Path, double: OllamaDouble) -> None:
        self.workdir = workdir
        self.double = double
        self.last = 0

    def run(self, step: Step) -> str:
        words = shlex.split(step.command)
        if words[0] == "cat":
            path = self.workdir / words[1]
            if not path.exists():  # the reader is shown the file the next command uses
                path.write_text("\n".join(step.expected) + "\n", encoding="utf-8")
            self.last = 0
            return path.read_text(encoding="utf-8")
        if words == ["echo", "$?"]:
            return str(self.last)
        if words[0] == "python":
            script = REPO / words[1]
            proc = subprocess.run(
                [sys.executable, str(script), *words[2:]], cwd=self.workdir, capture_output=True, text=True, timeout=120
            )
            self.last = proc.returncode
            return proc.stdout + proc.stderr
        assert words[0] == "modelctl", f"line {step.line}: only modelctl, python, cat and echo $? run here"
        return self._modelctl([a for w in words[1:] for a in self._glob(w)])

    def _glob(self, word: str) -> list[str]:
        """A word with ``*`` is expanded in the folder, sorted, as a shell does (kept when nothing matches)."""
        if "*" not in word:
            return [word]
        return sorted(str(p.relative_to(self.workdir)) for p in self.workdir.glob(word)) or [word]

    def _modelctl(self, args: list[str]) -> str:
        from click.testing import CliRunner

        from modelctl.cli import cli

        env = {"OLLAMA_HOST": self.double.url, "COLUMNS": "100", "NO_COLOR": "1"}
        old = os.getcwd()
        os.chdir(self.workdir)
        try:
            res = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
        finally:
            os.chdir(old)
        self.last = res.exit_code
        return res.output


def _tutorial(workdir: Path) -> None:
    shutil.copytree(REPO / "profiles", workdir / "profiles")
    shutil.copytree(REPO / "examples", workdir / "examples")


def _concepts(workdir: Path) -> None:
    write_big_header_gguf(workdir / "llama3-8b.gguf")
    write_tiny_llama(workdir / "chef-lora.gguf")  # the adapter the Portuguese page renders (a stand-in)


#: The pages checked, and what their folder holds before the first command.
PAGES: dict[str, Callable[[Path], None]] = {
    "docs/tutorial.md": _tutorial,
    "docs/concepts.md": _concepts,
    "docs/pt/conceitos.md": _concepts,
}


def ci_server(double: OllamaDouble) -> OllamaDouble:
    """A server a CI job builds every example profile on: its registry also has the bases of
    profiles/coder.yaml and profiles/long-context.yaml (stand-ins: the double's library lacks them)."""
    reg = double.state.registry
    for name, like in (("qwen2.5-coder:7b", "qwen3:8b"), ("llama3.1:8b", "llama3.2:3b")):
        n, src = parse_name(name), parse_name(like)
        assert n is not None and src is not None
        m = reg[src.key].copy_as(n)
        m.weights_digest = "sha256:" + hashlib.sha256(name.encode()).hexdigest()  # weights of its own
        m.layers = [(kind, m.weights_digest if kind == "model" else d) for kind, d in m.layers]
        reg[n.key] = m
    return double


def run_page(name: str, workdir: Path) -> Iterator[tuple[int, int, Step, str]]:
    """(block number, step number, step, what its command prints now with the shown host)."""
    PAGES[name](workdir)
    page = (REPO / name).read_text(encoding="utf-8")
    doubles = [OllamaDouble().start()]
    try:
        session = Session(workdir, doubles[0])
        for b, block in enumerate(blocks(page)):
            if block.fresh:
                fresh = workdir / f"fresh-checkout-{b}"
                fresh.mkdir()
                PAGES[name](fresh)
                doubles.append(ci_server(OllamaDouble().start()))
                session = Session(fresh, doubles[-1])
            for i, step in enumerate(block.steps):
                yield b, i, step, session.run(step).replace(session.double.url, SHOWN_HOST).rstrip("\n")
    finally:
        for d in doubles:
            d.close()


def _same(step: Step, printed: str) -> bool:
    shown = normalize("\n".join(step.expected)).split("\n") if step.expected else []
    now = normalize(printed)
    return matches(shown, now.split("\n") if now else [])


@pytest.mark.parametrize("name", sorted(PAGES))
def test_the_page_shows_what_the_commands_print(name: str, tmp_path: Path) -> None:
    problems = [
        f"{name}:{step.line}: $ {step.command}\n--- shown\n" + "\n".join(step.expected) + "\n--- printed now\n" + now
        for _b, _i, step, now in run_page(name, tmp_path)
        if not _same(step, now)
    ]
    assert not problems, "\n\n".join(problems) + "\n\n(python -m tests.test_tutorial --write rewrites them)"


def test_the_ci_section_runs_in_order_on_a_fresh_checkout(tmp_path: Path) -> None:
    """The tutorial's CI steps run as written on a new folder and a new server: `plan --lock` comes
    before any lock exists (a warning, not broken input: plan's exit code is its own, 3 for the
    missing models), `build --lock` writes the lock, and the reports are there."""
    page = (REPO / "docs/tutorial.md").read_text(encoding="utf-8")
    ci = page.index("## 8. In CI")
    (block,) = [b for b in blocks(page) if b.start > ci and b.fresh]
    commands = [s.command for s in block.steps if s.command.startswith("modelctl")]
    verbs = [c.split()[1] for c in commands]
    assert verbs[:4] == ["validate", "plan", "build", "plan"] and verbs[-1] == "compare", commands
    assert "--lock modelctl.lock" in commands[1] and "--lock modelctl.lock" in commands[2]
    steps = run_page("docs/tutorial.md", tmp_path)
    printed = [(step.command, now) for _b, _i, step, now in steps if step in block.steps]
    first_plan = next(now for command, now in printed if command == commands[1])
    assert "no lock yet: modelctl.lock does not exist" in first_plan
    fresh = next(tmp_path.glob("fresh-checkout-*"))
    assert sorted(p.name for p in fresh.iterdir()) == [
        "build.json",
        "compare.xml",
        "examples",
        "modelctl.lock",
        "profiles",
    ]


def write(name: str) -> bool:
    """Rewrite the outputs of ``name`` that differ from what the commands print (``...`` is lost
    in a block rewritten: shorten it again by hand where the whole output is too long to show)."""
    page = (REPO / name).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        printed = {(b, i): (step, now) for b, i, step, now in run_page(name, Path(tmp))}
    out, at = [], 0
    for b, block in enumerate(blocks(page)):
        lines: list[str] = []
        for i, step in enumerate(block.steps):
            _, now = printed[(b, i)]
            keep = _same(step, now)
            lines += [f"$ {step.command}", *(step.expected if keep else now.split("\n") if now else [])]
        out += [page[at : block.start], "\n".join(lines) + "\n"]
        at = block.end
    text = "".join(out) + page[at:]
    if text != page:
        (REPO / name).write_text(text, encoding="utf-8")
    return text != page


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit(__doc__)
    with tempfile.TemporaryDirectory() as home:
        os.environ.update({"HOME": home, "MODELCTL_STATE_DIR": os.path.join(home, "state")})
        for var in [v for v in os.environ if v.startswith(("OLLAMA_", "MODELCTL_")) and v != "MODELCTL_STATE_DIR"]:
            del os.environ[var]
        for page_name in PAGES:
            print(("rewrote " if write(page_name) else "unchanged ") + page_name)
