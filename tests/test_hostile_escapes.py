"""Text output escapes control characters from every source (modelctl/common/escape.py, one rule).

Each source gets a case: profile keys and values, file names, inventory keys, lock files,
committed Modelfiles (render --check's diff), and a server's strings (model names in ls/ps, a
streamed answer, pull statuses). `ESC ] 52` (clipboard) and `ESC ] 0` (title) must never reach
the terminal, and one problem is one line: a key holding `\\r\\n::error file=a.yaml::X` must not
print a line a CI runner reads as a workflow command.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelctl.common import escape
from modelctl.errors import Diagnostic
from modelctl.output.annotations import github
from tests.fixtures_double import run_cli
from tests.fixtures_hostile import HANG
from tests.hostile_server import HostileServer, Request, json_reply, ndjson

OSC_CLIPBOARD = "\x1b]52;c;aGVsbG8=\x07"
OSC_TITLE = "\x1b]0;pwned\x07"
INJECTION = "\r\n::error file=a.yaml::X"
# What must never be printed raw: ESC, BEL, CR, a C1 CSI, DEL.
RAW = re.compile("[\x1b\x07\r\x9b\x7f]")


def clean(*texts: str) -> None:
    for t in texts:
        assert RAW.search(t) is None, repr(t)
        assert not any(line.startswith("::error file=a.yaml") for line in t.splitlines()), t


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as srv:
        yield srv


def test_the_rule() -> None:
    raw = "a\r\n::error::x\x1b]0;t\x07\x9b\u202e\tz"
    assert escape.line(raw) == "a\\r\\n::error::x\\x1b]0;t\\x07\\u009b\\u202e\\tz"
    assert escape.text("line 1\n\tline 2\r\x1b[2J\n") == "line 1\n\tline 2\\r\\x1b[2J\n"
    assert escape.line("café ✓ — plain") == "café ✓ — plain"  # printable text is left alone


def test_a_profile_key(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(f'from: llama3.2\n"bad{INJECTION.encode("unicode_escape").decode()}": 1\n')
    proc = run_cli("validate", "p.yaml", cwd=tmp_path, timeout=HANG)
    assert proc.returncode == 1
    clean(proc.stdout, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "bad\\r\\n::error file=a.yaml::X" in errors[0]
    proc = run_cli("validate", "p.yaml", "--format", "github", cwd=tmp_path, timeout=HANG)
    clean(proc.stdout)
    commands = [line for line in proc.stdout.splitlines() if line.startswith("::")]
    assert len(commands) == 1 and commands[0].startswith("::error file=p.yaml,"), proc.stdout


def test_github_annotations_escape_esc_too() -> None:
    out = github([(Diagnostic("unknown_key", f"key {OSC_TITLE} and{INJECTION}", "p.yaml", 1, 1), "error")])
    clean(out)
    assert out.count("\n") == 1 and "\\x1b]0;pwned\\x07" in out and "%0D%0A" in out


def test_a_profile_value(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").write_text('from: llama3.2\nquantize: "\\e]52;c;aGVsbG8=\\a"\n')
    proc = run_cli("validate", "v.yaml", cwd=tmp_path, timeout=HANG)
    assert proc.returncode == 1
    clean(proc.stdout, proc.stderr)
    assert "unsupported quantization type \\x1b]52;c;aGVsbG8=\\x07" in proc.stderr


def test_a_file_name(tmp_path: Path) -> None:
    name = f"q{OSC_TITLE}.yaml"
    (tmp_path / name).write_text("from: llama3.2\n")
    proc = run_cli("validate", name, cwd=tmp_path, timeout=HANG)
    clean(proc.stdout, proc.stderr)
    assert "q\\x1b]0;pwned\\x07" in proc.stdout + proc.stderr


def test_an_inventory_key(tmp_path: Path) -> None:
    (tmp_path / "inv.yaml").write_text('hosts:\n  other: {url: "http://127.0.0.1:1", "k\\e]52;c;eA==\\a": 1}\n')
    proc = run_cli("ls", "--hosts", "inv.yaml", cwd=tmp_path, timeout=HANG)
    assert proc.returncode == 1
    clean(proc.stdout, proc.stderr)
    assert "unknown key 'k\\x1b]52;c;eA==\\x07'" in proc.stderr


def test_a_lock_file(tmp_path: Path) -> None:
    lock = {"lock_version": 1, "hosts": {f"h{OSC_TITLE}{INJECTION}": 5}}
    (tmp_path / "l.lock").write_text(json.dumps(lock))
    (tmp_path / "p.yaml").write_text("from: llama3.2\n")
    proc = run_cli("plan", "p.yaml", "--lock", "l.lock", "--host", "http://127.0.0.1:1", cwd=tmp_path, timeout=HANG)
    clean(proc.stdout, proc.stderr)
    assert "h\\x1b]0;pwned\\x07\\r\\n::error file=a.yaml::X" in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1


def test_a_committed_modelfile_in_a_diff(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("from: llama3\n")
    out = tmp_path / "a.Modelfile"
    assert run_cli("render", "a.yaml", "-o", str(out), cwd=tmp_path).returncode == 0
    with out.open("a") as fh:
        fh.write(f"SYSTEM {OSC_CLIPBOARD}\r::error file=a.yaml::X\n")
    proc = run_cli("render", "a.yaml", "--check", str(out), cwd=tmp_path, timeout=HANG)
    assert proc.returncode == 3, proc.stderr
    clean(proc.stdout, proc.stderr)
    assert "-SYSTEM \\x1b]52;c;aGVsbG8=\\x07\\r::error file=a.yaml::X" in proc.stdout


def _tags(req: Request) -> list[bytes]:
    model = {"name": f"evil{OSC_CLIPBOARD}{OSC_TITLE}:latest", "model": "x", "size": 1, "digest": "0" * 64}
    return [json_reply({"models": [model]})]


def test_server_model_names_in_ls_and_ps(server: HostileServer, tmp_path: Path) -> None:
    server.routes["/api/tags"] = _tags
    server.routes["/api/ps"] = _tags
    for command in ("ls", "ps"):
        proc = run_cli(command, host=server.url, cwd=tmp_path, timeout=HANG)
        assert proc.returncode == 0, proc.stderr
        clean(proc.stdout, proc.stderr)
        assert "evil\\x1b]52;c;aGVsbG8=\\x07" in proc.stdout


def test_a_streamed_answer(server: HostileServer, tmp_path: Path) -> None:
    def generate(req: Request) -> object:
        req.body()
        pieces = [{"response": f"hi{OSC_CLIPBOARD}", "done": False}, {"response": f"{OSC_TITLE}\r!", "done": False}]
        return ndjson([*pieces, {"done": True, "done_reason": "stop", "eval_count": 2}])

    server.routes["/api/generate"] = generate  # type: ignore[assignment]
    proc = run_cli("run", "m", "hello", host=server.url, cwd=tmp_path, timeout=HANG)
    assert proc.returncode == 0, proc.stderr
    clean(proc.stdout, proc.stderr)
    assert "hi\\x1b]52;c;aGVsbG8=\\x07\\x1b]0;pwned\\x07\\r!" in proc.stdout


def test_sarif_stays_json_once_escaped(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text('from: llama3.2\n"k\\x9b2J\\u2028\\u202ex": 1\n', encoding="utf-8")
    proc = run_cli("validate", "p.yaml", "--format", "sarif", cwd=tmp_path, timeout=HANG)
    clean(proc.stdout)
    assert "\u2028" not in proc.stdout and "\u202e" not in proc.stdout
    text = json.loads(proc.stdout)["runs"][0]["results"][0]["message"]["text"]
    assert "k\x9b2J\u2028\u202ex" in text  # the escapes are JSON's: a reader gets the key back
