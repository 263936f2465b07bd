"""Class 1 of issue 10: files that never end or are not regular files.

Every path modelctl reads (profiles, extends, templates, prompts files, Modelfiles, FROM and
ADAPTER files and folder contents, GGUFs) is checked before it is opened: a FIFO nobody writes
to, /dev/zero, /dev/urandom, a socket or a directory is one clear error line, never a hang
(each CLI case runs in a subprocess with a timeout); every read is capped.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from modelctl.common import files
from modelctl.common.limits import PROFILE_BYTES
from modelctl.errors import InvalidInput, ProfileError
from tests.fixtures_double import run_cli
from tests.fixtures_gguf import write_tiny_llama
from tests.fixtures_hostile import HANG, assert_refused

Maker = Callable[[str], Path]


def odd_file(kind: str, tmp_path: Path, fifo: Maker, unix_socket: Maker, name: str) -> tuple[Path, str]:
    """A path of the given kind, and the words the refusal must use."""
    if kind == "fifo":
        return fifo(name), "FIFO"
    if kind == "socket":
        return unix_socket(name), "socket"
    if kind == "directory":
        (tmp_path / name).mkdir()
        return tmp_path / name, "is a directory"
    return Path(f"/dev/{kind}"), "character device"


KINDS = ["fifo", "zero", "urandom", "socket", "directory"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_profile_that_is_not_a_regular_file(kind: str, tmp_path: Path, fifo: Maker, unix_socket: Maker) -> None:
    path, words = odd_file(kind, tmp_path, fifo, unix_socket, "p.yaml")
    proc = run_cli("validate", str(path), cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, str(path), words)


@pytest.mark.parametrize("kind", ["fifo", "urandom", "directory"])
def test_extends_a_file_that_is_not_regular(kind: str, tmp_path: Path, fifo: Maker, unix_socket: Maker) -> None:
    target, words = odd_file(kind, tmp_path, fifo, unix_socket, "base.yaml")
    (tmp_path / "p.yaml").write_text(f"extends: {target}\nfrom: llama3.2\n")
    proc = run_cli("validate", "p.yaml", cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, str(target), words)


@pytest.mark.parametrize("kind", ["fifo", "zero", "urandom", "socket"])  # a directory: click's usage error
def test_a_template_that_is_not_a_regular_file(kind: str, tmp_path: Path, fifo: Maker, unix_socket: Maker) -> None:
    path, words = odd_file(kind, tmp_path, fifo, unix_socket, "t.j2")
    (tmp_path / "p.yaml").write_text("from: llama3.2\n")
    proc = run_cli("render", "p.yaml", "--template", str(path), cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, str(path), words)


@pytest.mark.parametrize("kind", ["fifo", "zero", "socket"])
def test_a_prompts_file_that_is_not_a_regular_file(
    kind: str, tmp_path: Path, fifo: Maker, unix_socket: Maker, closed_port_url: str
) -> None:
    path, words = odd_file(kind, tmp_path, fifo, unix_socket, "prompts.yaml")
    (tmp_path / "p.yaml").write_text("from: llama3.2\n")
    proc = run_cli("compare", "p.yaml", "--prompts", str(path), host=closed_port_url, cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, str(path), words)


@pytest.mark.parametrize("kind", ["fifo", "zero", "urandom", "socket"])
def test_a_modelfile_that_is_not_a_regular_file(kind: str, tmp_path: Path, fifo: Maker, unix_socket: Maker) -> None:
    path, words = odd_file(kind, tmp_path, fifo, unix_socket, "Modelfile")
    proc = run_cli("import", str(path), cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, str(path), words)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_from_a_device_is_refused_before_hashing(device: str, tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(f"from: {device}\n")
    proc = run_cli("build", "p.yaml", "--dry-run", cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, device, "character device")


@pytest.mark.parametrize("command", ["validate", "render", "estimate"])
def test_a_from_that_is_a_fifo_is_refused_at_its_line(command: str, tmp_path: Path, fifo: Maker) -> None:
    fifo("weights.gguf")
    (tmp_path / "p.yaml").write_text("name: x\nfrom: ./weights.gguf\n")
    proc = run_cli(command, "p.yaml", cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, "p.yaml:2:7: from:", "weights.gguf: is a FIFO (named pipe)")


def test_an_adapter_that_is_a_fifo(tmp_path: Path, fifo: Maker) -> None:
    write_tiny_llama(tmp_path / "m.gguf")
    fifo("lora.gguf")
    (tmp_path / "p.yaml").write_text("from: ./m.gguf\nadapters: ./lora.gguf\n")
    proc = run_cli("build", "p.yaml", "--dry-run", cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, "lora.gguf", "FIFO")


@pytest.mark.parametrize("name", ["model.safetensors", "weights.gguf", "config.json"])
def test_a_fifo_inside_a_from_folder(name: str, tmp_path: Path, fifo: Maker) -> None:
    model = tmp_path / "model"
    model.mkdir()
    if name == "config.json":
        (model / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    fifo(f"model/{name}")
    (tmp_path / "p.yaml").write_text("from: ./model\n")
    proc = run_cli("build", "p.yaml", "--dry-run", cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, name, "FIFO")


def test_estimate_from_a_device_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("from: /dev/zero\n")
    proc = run_cli("estimate", "p.yaml", cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, "/dev/zero")


# --------------------------------------------------------------------------- caps


@pytest.mark.parametrize(
    ("args", "variable", "name", "content"),
    [
        (("validate", "big.yaml"), "MODELCTL_MAX_PROFILE_BYTES", "big.yaml", "from: x\n#" + "x" * 5000 + "\n"),
        (
            ("render", "p.yaml", "--template", "big.j2"),
            "MODELCTL_MAX_TEMPLATE_BYTES",
            "big.j2",
            "FROM {{ from_ }}\n{#" + "x" * 5000 + "#}",
        ),
        (("import", "big.Modelfile"), "MODELCTL_MAX_MODELFILE_BYTES", "big.Modelfile", "FROM x\n#" + "x" * 5000),
        (
            ("compare", "p.yaml", "--prompts", "big.yaml"),
            "MODELCTL_MAX_PROMPTS_BYTES",
            "big.yaml",
            "- hello\n#" + "x" * 5000 + "\n",
        ),
    ],
)
def test_every_read_is_capped_and_the_cap_is_named(
    args: tuple[str, ...], variable: str, name: str, content: str, tmp_path: Path, closed_port_url: str
) -> None:
    (tmp_path / "p.yaml").write_text("from: llama3.2\n")
    (tmp_path / name).write_text(content)
    proc = run_cli(*args, host=closed_port_url, cwd=tmp_path, env={variable: "1KiB"}, timeout=HANG)
    assert_refused(proc, 1, name, variable, "1,024 bytes")
    raised = run_cli(*args, host=closed_port_url, cwd=tmp_path, env={variable: "1MiB"}, timeout=HANG)
    assert variable not in raised.stderr  # the cap can be raised for unusual inputs


# --------------------------------------------------------------------------- the helpers themselves


def test_read_bounded_refuses_a_directory_and_a_device_without_reading(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="is a directory, not a profile file"):
        files.read_bounded(tmp_path, PROFILE_BYTES, what="profile", error=ProfileError)
    with pytest.raises(InvalidInput, match="is a character device, not a regular file: a template must be"):
        files.read_bounded("/dev/zero", PROFILE_BYTES, what="template")
    with pytest.raises(InvalidInput, match="Modelfile not found"):
        files.read_bounded(tmp_path / "nope", PROFILE_BYTES, what="Modelfile")


def test_open_regular_catches_a_fifo_swapped_in_after_the_stat(
    tmp_path: Path, fifo: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stat saw a regular file; by the open it is a FIFO with no writer. The open must not
    block (O_NONBLOCK) and the descriptor's own kind must be checked."""
    regular = tmp_path / "regular.yaml"
    regular.write_text("from: x\n")
    pipe = fifo("pipe.yaml")
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: real_stat(regular if str(p) == str(pipe) else p))
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            files.open_regular(pipe, what="profile")
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(HANG)
    if t.is_alive():  # release the blocked open before failing
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("opening a FIFO blocked")
    assert isinstance(outcome[0], InvalidInput) and "FIFO" in outcome[0].message


def test_sha256_refuses_a_device_and_a_file_that_grows_while_hashed(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="character device"):
        files.sha256_file("/dev/urandom")
    grows = tmp_path / "grows.gguf"
    grows.write_bytes(b"x" * 100)

    def append(done: int) -> None:
        with open(grows, "ab") as fh:
            fh.write(b"more")

    with pytest.raises(InvalidInput, match="changed while it was hashed"):
        files.sha256_file(grows, append, chunk=10)
