"""Local files: atomic writes and streaming SHA-256, shared by the core and the writers.

Standard library only, so the CLI layer can import it without cost.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from modelctl.errors import InvalidInput

HASH_CHUNK = 1 << 20


def write_atomic(path: str | os.PathLike[str], text: str | bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it into place.

    A reader never sees half a file, and a failure leaves the old file (or none) in place.
    """
    import tempfile  # here, not at the top: every command's --help imports this module

    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    data = text.encode("utf-8") if isinstance(text, str) else text
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


def sha256_file(
    path: str | os.PathLike[str], progress: Callable[[int], None] | None = None, *, chunk: int = HASH_CHUNK
) -> str:
    """``sha256:<lowercase hex>`` of a file read in chunks into one reused buffer (flat memory).

    ``progress`` is called after each chunk with the bytes hashed so far.
    """
    h = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    done = 0
    try:
        with open(path, "rb", buffering=0) as fh:
            if hasattr(os, "posix_fadvise"):
                with contextlib.suppress(OSError):
                    os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            while n := fh.readinto(view):
                h.update(view[:n])
                done += n
                if progress is not None:
                    progress(done)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}", file=str(path)) from None
    return "sha256:" + h.hexdigest()


def read_capped(path: str | os.PathLike[str], limit: int, *, what: str, env: str) -> bytes:
    """A file's bytes, refusing (InvalidInput naming ``env``) one larger than ``limit`` bytes;
    never reads more than ``limit + 1`` bytes (a FIFO or a device cannot hang it)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise InvalidInput(f"{what} not found", file=str(path)) from None
    except IsADirectoryError:
        raise InvalidInput(f"is a directory, not a {what}", file=str(path)) from None
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what}: {exc.strerror or exc}", file=str(path)) from None
    if len(data) > limit:
        raise InvalidInput(f"the {what} is larger than {limit} bytes (raise the limit with {env})", file=str(path))
    return data
