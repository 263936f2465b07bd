"""No hang on special files, on the write path as on the read path.

Every file modelctl writes for itself (builds.json and its lock file) must be a regular file or
absent; every file it opens (the files `render --check DIR` walks, a GGUF, a blob it uploads, the
files `import --model --files` indexes) is checked before the open, which never blocks. Each CLI
case runs in a subprocess with a timeout, with real FIFOs (os.mkfifo) nobody reads or writes,
so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelctl.common import files
from modelctl.errors import InvalidInput
from modelctl.memory import gguf
from tests.fixtures_double import run_cli
from tests.fixtures_gguf import write_tiny_llama
from tests.fixtures_hostile import HANG, assert_refused
from tests.ollama_double import OllamaDouble

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")

Maker = Callable[[str], Path]


@pytest.mark.parametrize("special", ["builds.json", "builds.json.lock"])
def test_a_fifo_as_the_build_records_never_hangs_a_build(
    special: str, ollama_double: OllamaDouble, tmp_path: Path
) -> None:
    ollama_double.install("llama3.2:3b")
    state = tmp_path / "state"
    state.mkdir()
    os.mkfifo(state / special)
    (tmp_path / "chef.yaml").write_text("from: llama3.2:3b\nsystem: hi\n", encoding="utf-8")
    proc = run_cli(
        "build", "chef.yaml", host=ollama_double.url, env={"MODELCTL_STATE_DIR": str(state)}, cwd=tmp_path, timeout=HANG
    )
    assert proc.returncode == 0, proc.stderr  # the model is made; a record only saves a rebuild
    assert ollama_double.state.get("chef") is not None
    assert stat.S_ISFIFO(os.lstat(state / special).st_mode)  # never replaced


def test_a_file_modelctl_keeps_must_be_regular_or_absent(tmp_path: Path) -> None:
    pipe = tmp_path / "builds.json"
    os.mkfifo(pipe)
    with pytest.raises(InvalidInput, match="is a FIFO"):
        files.check_writable_regular(pipe, what="build records file")
    with pytest.raises(InvalidInput, match="is a character device"):
        files.check_writable_regular("/dev/null", what="build records file")
    with pytest.raises(InvalidInput, match="is a directory"):
        files.check_writable_regular(tmp_path, what="build records file")
    files.check_writable_regular(tmp_path / "new.json", what="build records file")  # absent: fine
    (tmp_path / "old.json").write_text("{}")
    files.check_writable_regular(tmp_path / "old.json", what="build records file")


def test_write_atomic_never_waits_on_a_fifo_nobody_reads(tmp_path: Path) -> None:
    pipe = tmp_path / "out.fifo"
    os.mkfifo(pipe)
    outcome = _in_thread(lambda: files.write_atomic(pipe, "text"), pipe)
    assert isinstance(outcome, InvalidInput) and "nobody reads" in outcome.message


def test_output_to_a_fifo_nobody_reads_is_an_error_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("from: llama3.2\nsystem: hello\n", encoding="utf-8")
    pipe = tmp_path / "out.fifo"
    os.mkfifo(pipe)
    proc = run_cli("render", "p.yaml", "-o", str(pipe), cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, "out.fifo", "FIFO", "nobody reads")
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)


def test_render_check_dir_never_opens_a_fifo(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("from: llama3\n", encoding="utf-8")
    out_dir = tmp_path / "modelfiles"
    out_dir.mkdir()
    assert run_cli("render", "a.yaml", "-o", str(out_dir / "a.Modelfile"), cwd=tmp_path).returncode == 0
    os.mkfifo(out_dir / "stuck.Modelfile")
    (out_dir / "deeper").mkdir()
    os.mkfifo(out_dir / "deeper" / "pipe")
    proc = run_cli("render", "--check", str(out_dir), cwd=tmp_path, timeout=HANG)
    assert proc.returncode == 0, proc.stderr
    assert "1 Modelfile(s) checked, 0 differ" in proc.stdout
    assert "stuck.Modelfile: is a FIFO" in proc.stderr and "pipe: is a FIFO" in proc.stderr


def _swapped(monkeypatch: pytest.MonkeyPatch, pipe: Path, regular: Path) -> None:
    """``os.stat`` of ``pipe`` answers for ``regular``: a FIFO swapped in after the check."""
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: real_stat(regular if str(p) == str(pipe) else p, *a, **k))


def _in_thread(fn: Callable[[], Any], pipe: Path) -> BaseException | None:
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            fn()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(HANG)
    if t.is_alive():  # release the blocked open (for reading or for writing) before failing
        for flags in (os.O_RDONLY | os.O_NONBLOCK, os.O_WRONLY | os.O_NONBLOCK):
            with contextlib.suppress(OSError):
                os.close(os.open(pipe, flags))
        pytest.fail("opening a FIFO blocked")
    return outcome[0]


def test_a_gguf_swapped_for_a_fifo_after_its_stat_never_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    regular = tmp_path / "real.gguf"
    write_tiny_llama(regular)
    pipe = tmp_path / "pipe.gguf"
    os.mkfifo(pipe)
    _swapped(monkeypatch, pipe, regular)
    outcome = _in_thread(lambda: gguf.read_gguf(pipe), pipe)
    assert isinstance(outcome, InvalidInput) and "FIFO" in outcome.message


def test_a_blob_swapped_for_a_fifo_before_its_upload_never_blocks(
    ollama_double: OllamaDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelctl.ollama.server import OllamaClient

    regular = tmp_path / "real.gguf"
    write_tiny_llama(regular)
    digest = files.sha256_file(regular)
    pipe = tmp_path / "pipe.gguf"
    os.mkfifo(pipe)
    _swapped(monkeypatch, pipe, regular)
    client = OllamaClient(ollama_double.url)
    try:
        outcome = _in_thread(lambda: client.upload_blob(pipe, digest), pipe)
    finally:
        client.close()
    assert isinstance(outcome, InvalidInput) and "FIFO" in outcome.message


def test_import_files_skips_a_fifo_named_like_a_model(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    lora = tmp_path / "lora.gguf"
    lora.write_bytes(b"GGUF\x03\x00\x00\x00a lora")
    (tmp_path / "p.yaml").write_text("name: withlora\nfrom: llama3.2:3b\nadapters: [./lora.gguf]\n", encoding="utf-8")
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state")}
    assert run_cli("build", str(tmp_path / "p.yaml"), "-q", host=ollama_double.url, env=env).returncode == 0
    weights = tmp_path / "weights"
    weights.mkdir()
    os.mkfifo(weights / "stuck.gguf")
    (weights / "lora.gguf").write_bytes(lora.read_bytes())
    proc = run_cli(
        "import", "--model", "withlora", "--files", str(weights), host=ollama_double.url, env=env, timeout=HANG
    )
    assert proc.returncode == 0, proc.stderr
    assert "weights/lora.gguf" in proc.stdout
