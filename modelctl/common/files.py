"""Local files: bounded reading, atomic writes, streaming SHA-256, a lock across processes and
confinement to a repository, shared by the core and the writers.

Reading: every file modelctl reads goes through :func:`open_regular` (or :func:`read_bounded`),
which checks the kind of file before opening it. A FIFO, a device (``/dev/zero``,
``/dev/urandom``), a socket or a directory where a file is expected is an error, never a hang:
the kind is checked with ``stat`` first and again on the open descriptor, which is opened with
``O_NONBLOCK`` so that a FIFO swapped in between cannot block the open.

Standard library only, so the CLI layer can import it without cost.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from modelctl.errors import InvalidInput

if TYPE_CHECKING:
    from modelctl.common.limits import Limit

HASH_CHUNK = 1 << 20

#: ``1`` (or ``yes``/``true``/``repo``) confines local paths to the profile's repository; a
#: folder confines them to that folder; empty or ``0`` does not confine (the default).
CONFINE_ENV = "MODELCTL_CONFINE"
ALLOW_ENV = "MODELCTL_ALLOW_ENV"  # under confinement: the environment variables an inventory may read

_O_READ = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
# Opening a FIFO for writing without a reader fails at once (ENXIO) with O_NONBLOCK instead of
# waiting for ever; a device opens as usual.
_O_WRITE = os.O_WRONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)

# -------------------------------------------------------------------------------------------
# Reading: regular files only, bounded
# -------------------------------------------------------------------------------------------


def kind_of(mode: int) -> str:
    """What a file of this ``st_mode`` is, for messages (``a FIFO (named pipe)``...)."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISREG(mode):
        return "a regular file"
    return "not a regular file"


def _file_noun(what: str) -> str:
    """``profile file``, ``template file``, but ``Modelfile``."""
    return what if what.endswith((" file", "Modelfile")) else f"{what} file"


def _not_regular(mode: int, what: str) -> str:
    if stat.S_ISDIR(mode):
        return f"is a directory, not a {_file_noun(what)}"
    return f"is {kind_of(mode)}, not a regular file: a {what} must be a regular file"


def open_regular(
    path: str | os.PathLike[str], *, what: str, error: type[InvalidInput] = InvalidInput
) -> tuple[io.FileIO, int]:
    """Open a regular file for reading: (the unbuffered file, its size at open time).

    Anything else (missing, a directory, a FIFO, a device, a socket, unreadable) raises
    ``error`` naming the file. Never blocks: the open uses ``O_NONBLOCK`` and the kind is
    checked again on the descriptor.
    """
    name = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{_file_noun(what)} not found", file=name) from None
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", file=name) from None
    if not stat.S_ISREG(st.st_mode):
        raise error(_not_regular(st.st_mode, what), file=name)
    try:
        fd = os.open(path, _O_READ)
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", file=name) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped for something else since the stat above
            raise error(_not_regular(st.st_mode, what), file=name)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        _INPUTS.setdefault((st.st_dev, st.st_ino), (name, what))
        _INPUTS.setdefault(os.path.realpath(path), (name, what))
        return io.FileIO(fd, "rb", closefd=True), st.st_size
    except BaseException:
        os.close(fd)
        raise


# Every regular file this run opened to read, with the name it was opened by and what it was, by
# identity (device and inode, as os.path.samefile compares) and by resolved path (the run may have
# replaced it since, as build --lock does): an output must never replace one.
_INPUTS: dict[tuple[int, int] | str, tuple[str, str]] = {}


def forget_inputs() -> None:
    """A new command starts (the CLI runs one per process; tests run many in one)."""
    _INPUTS.clear()


def check_output(path: str | os.PathLike[str], *, option: str = "-o") -> None:
    """Refuse an output file that is a file this command read (the profile, its ``extends``, the
    prompts file, the template, the Modelfile, the lock...), whatever name or link reaches it:
    writing the report there would replace the input. The one check of every command's ``-o``."""
    if writes_through(path):
        return
    try:
        st = os.stat(path)
    except OSError:
        return  # no file there yet: nothing read can be it
    found = _INPUTS.get((st.st_dev, st.st_ino)) or _INPUTS.get(os.path.realpath(path))
    if found is not None:
        name, what = found
        same = "" if os.path.abspath(name) == os.path.abspath(path) else f" (the same file as {path})"
        raise InvalidInput(
            f"{option} would overwrite the {_file_noun(what)} {name}{same} that this command reads: "
            "write the output elsewhere",
            file=str(path),
        )


def not_regular(path: str | os.PathLike[str], *, what: str) -> str | None:
    """Why an existing ``path`` (links followed) cannot be read as a ``what``, without opening it:
    a FIFO, a device, a socket; None for a regular file, a directory or a missing path."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else _not_regular(mode, what)


def read_bounded(
    path: str | os.PathLike[str], limit: Limit, *, what: str, error: type[InvalidInput] = InvalidInput
) -> bytes:
    """The whole content of a regular file of at most ``limit`` bytes, else ``error``."""
    name = str(path)
    cap = limit.value()
    fh, size = open_regular(path, what=what, error=error)
    with fh:
        if size > cap:
            raise error(
                f"file is {size:,} bytes; a {what} larger than {cap:,} bytes is refused ({limit.env})", file=name
            )
        try:
            raw = _read_at_most(fh, cap + 1)
        except OSError as exc:
            raise error(f"cannot read {what}: {exc.strerror or exc}", file=name) from None
    if len(raw) > cap:  # the file grew after it was opened
        raise error(f"a {what} larger than {cap:,} bytes is refused ({limit.env})", file=name)
    return raw


def _read_at_most(fh: io.FileIO, n: int) -> bytes:
    parts: list[bytes] = []
    left = n
    while left > 0:
        chunk = fh.read(min(left, HASH_CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def check_regular(path: str | os.PathLike[str], *, what: str, error: type[InvalidInput] = InvalidInput) -> int:
    """Refuse anything but an existing regular file (following links); its size."""
    fh, size = open_regular(path, what=what, error=error)
    fh.close()
    return size


def sha256_file(
    path: str | os.PathLike[str], progress: Callable[[int], None] | None = None, *, chunk: int = HASH_CHUNK
) -> str:
    """``sha256:<lowercase hex>`` of a regular file read in chunks into one reused buffer (flat memory).

    At most the size the file had when it was opened is read, so a file that keeps growing
    cannot keep the hasher busy; one that changed while it was read is an error.
    ``progress`` is called after each chunk with the bytes hashed so far.
    """
    import hashlib  # not at module level: every command imports this module, few hash (OpenSSL's load costs ~7 ms)

    h = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    done = 0
    try:
        fh, size = open_regular(path, what="model")
    except InvalidInput as exc:
        raise InvalidInput(f"cannot read {path}: {exc.message}", file=str(path)) from None
    try:
        with fh:
            if hasattr(os, "posix_fadvise"):
                with contextlib.suppress(OSError):
                    os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            while done < size and (n := fh.readinto(view[: min(chunk, size - done)])):
                h.update(view[:n])
                done += n
                if progress is not None:
                    progress(done)
            grew = bool(fh.read(1))
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}", file=str(path)) from None
    if done != size or grew:
        raise InvalidInput(f"{path} changed while it was hashed (was {size:,} bytes); try again", file=str(path))
    return "sha256:" + h.hexdigest()


# -------------------------------------------------------------------------------------------
# Writing: atomically for regular files, straight through for devices and FIFOs
# -------------------------------------------------------------------------------------------

_STD_STREAM = re.compile(r"^/(?:dev/(?:std(?:out|err)|fd/\d+)|proc/self/fd/\d+)$")
_STREAM_FD = {"/dev/stdout": 1, "/dev/stderr": 2}


def writes_through(path: str | os.PathLike[str]) -> bool:
    """Whether :func:`write_atomic` writes ``path`` straight through instead of replacing it:
    ``/dev/stdout``-like names, and existing character/block devices, FIFOs and sockets."""
    if _STD_STREAM.match(os.path.abspath(path)):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def write_atomic(path: str | os.PathLike[str], text: str | bytes) -> None:
    """Write ``text`` to ``path`` so that a reader never sees half a file.

    A regular file (or a new one) is written to a temporary file beside it and renamed into
    place; a failure leaves the old file (or none). A symbolic link is followed: its final
    target is replaced the same way and the link stays a link. ``/dev/stdout``, ``/dev/stderr``,
    ``/dev/fd/N``, devices (``/dev/null``) and FIFOs are written straight through, never replaced;
    the open never blocks, so a FIFO nobody reads is an error rather than a hang. (A file
    modelctl keeps for itself is checked with :func:`check_writable_regular` first.)
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    absolute = os.path.abspath(path)
    if _STD_STREAM.match(absolute):
        _write_fd(_STREAM_FD.get(absolute) or int(absolute.rsplit("/", 1)[1]), data)
        return
    elif writes_through(path):  # a device or FIFO: no temporary file can stand in for it
        fd = _open_through(path)
        try:
            _write_fd(fd, data)
        finally:
            os.close(fd)
        return
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    _replace(target, data)


def check_writable_regular(path: str | os.PathLike[str], *, what: str) -> None:
    """Refuse a ``path`` (links followed) that exists and is not a regular file: a FIFO, a
    device, a socket, a directory, for a file modelctl keeps for itself (``builds.json``), which
    must be a regular file or absent. Nothing is opened."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InvalidInput(f"cannot write {what}: {exc.strerror or exc}", file=str(path)) from None
    if not stat.S_ISREG(mode):
        raise InvalidInput(_not_regular(mode, what), file=str(path))


def _open_through(path: str | os.PathLike[str]) -> int:
    """A device or FIFO opened for writing without blocking; then blocking, to write it all."""
    try:
        fd = os.open(path, _O_WRITE)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise InvalidInput("is a FIFO (named pipe) that nobody reads: nothing written", file=str(path)) from None
        raise
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _replace(target: Path, data: bytes) -> None:
    import tempfile  # here, not at the top: every command's --help imports this module

    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _copy_mode(tmp, target)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _copy_mode(tmp: str, target: Path) -> None:
    """The replaced file's permissions, or the umask's for a new file (mkstemp makes 0600)."""
    if target.exists():
        with contextlib.suppress(OSError):
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        return
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the lock file ``path`` (created if needed) across processes.

    ``fcntl.flock`` where it exists; elsewhere (Windows) nothing, and callers keep their
    in-process lock. The lock goes when the descriptor is closed, even if the process dies.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # a FIFO or device as the lock file: never wait on it
            raise InvalidInput(_not_regular(mode, "lock file"), file=str(path))
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def locked_beside(path: Path) -> contextlib.AbstractContextManager[None]:
    """The cross-process lock of a shared state file ``path`` in modelctl's own state folder:
    :func:`locked` on ``path`` + ``.lock`` beside it (``builds.json.lock``). Whoever reads, changes
    and rewrites a file that other processes may rewrite at once does it inside this, so no one's
    change is lost."""
    return locked(path.with_name(path.name + ".lock"))


def locked_by_name(path: Path) -> contextlib.AbstractContextManager[None]:
    """The same lock for a file in the user's own tree (the ``--lock`` file, committed to a
    repository): the lock file lives in modelctl's state folder, named by the file's resolved
    path, so nothing is left beside the user's file."""
    import hashlib

    key = hashlib.sha256(os.path.realpath(path).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    folder = state_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return locked(folder / f"{key}.lock")


def state_dir() -> Path:
    """modelctl's state folder: $MODELCTL_STATE_DIR, else $XDG_STATE_HOME/modelctl (~/.local/state)."""
    explicit = os.environ.get("MODELCTL_STATE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "modelctl"


# -------------------------------------------------------------------------------------------
# Confinement: local paths must stay inside a root (--confine)
# -------------------------------------------------------------------------------------------


def repository_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` holding a ``.git`` (a folder, or a worktree's
    file); ``start`` itself when there is none. Links resolved."""
    here = Path(os.path.realpath(start))
    for folder in (here, *here.parents):
        if os.path.lexists(folder / ".git"):
            return folder
    return here


def confined(environ: Mapping[str, str] | None = None) -> bool:
    """Whether files from others are confined (--confine, $MODELCTL_CONFINE set and not 0/no/false/off)."""
    raw = (os.environ if environ is None else environ).get(CONFINE_ENV, "").strip()
    return raw.lower() not in ("", "0", "no", "false", "off")


def allowed_env(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The environment variables a confined inventory may read: $MODELCTL_ALLOW_ENV, comma-separated."""
    raw = (os.environ if environ is None else environ).get(ALLOW_ENV, "")
    return frozenset(v.strip() for v in raw.split(",") if v.strip())


def confinement_root(profile_dir: Path) -> Path | None:
    """Where local paths of a profile in ``profile_dir`` must stay ($MODELCTL_CONFINE), or None."""
    if not confined():
        return None
    raw = os.environ.get(CONFINE_ENV, "").strip()
    if raw.lower() in ("1", "yes", "true", "on", "repo"):
        return repository_root(profile_dir)
    root = Path(os.path.realpath(os.path.expanduser(raw)))
    if not root.is_dir():
        raise InvalidInput(f"{CONFINE_ENV} names {raw!r}, which is not a folder", field=CONFINE_ENV)
    return root


def outside(path: Path, root: Path) -> str | None:
    """Why ``path`` (links resolved) is not ``root`` or inside it, or None when it is inside."""
    real = os.path.realpath(path)
    base = str(root)
    if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
        return None
    shown = str(path) if real == os.path.abspath(path) else f"{path} (a link to {real})"
    return f"{shown} is outside {root} (--confine refuses local files outside the repository)"
