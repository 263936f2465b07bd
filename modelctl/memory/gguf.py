"""A streaming GGUF metadata reader: header, key/value metadata and tensor infos, never tensor data.

Why not the ``gguf`` package: its reader memory-maps the file and decodes every vocabulary
entry in Python (seconds and hundreds of MB on a real 128K-token header) and pulls in numpy.
This reader is ``struct`` only and bounded:

* every count and length read from the file is checked against the bytes left in the file
  *before* anything is allocated or looped over, so a corrupt count (2^60) fails at once;
* arrays that are not needed (vocabulary, merges, scores) are skipped: numeric arrays with
  one seek, string arrays by reading each length and stepping over the bytes;
* small numeric arrays (per-layer head counts and the like) and short strings are kept;
* nothing after the tensor-info table is read.

Layout (GGUF v2/v3, little- or big-endian): magic ``GGUF``, u32 version, u64 tensor count,
u64 metadata count, the metadata (key string, u32 value type, value), the tensor infos
(name, u32 n_dims, u64 dims, u32 ggml type, u64 offset), padding to ``general.alignment``,
then the tensor data.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from modelctl.common.files import open_regular
from modelctl.errors import GGUFError

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS

# Limits on what is *kept* in memory (what is skipped is only bounded by the file size).
MAX_KEY_LENGTH = 65535  # GGUF keys are short ASCII identifiers
MAX_NAME_LENGTH = 65535
KEEP_STRING_LIMIT = 1 << 20  # scalar strings longer than this are skipped, their length recorded
KEEP_ARRAY_LIMIT = 4096  # numeric arrays up to this many elements are kept (per-layer values)

_CHUNK = 1 << 20

# GGUF metadata value types.
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL = range(8)
T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = 8, 9, 10, 11, 12

_SCALAR_FORMATS: dict[int, str] = {
    T_UINT8: "B",
    T_INT8: "b",
    T_UINT16: "H",
    T_INT16: "h",
    T_UINT32: "I",
    T_INT32: "i",
    T_FLOAT32: "f",
    T_BOOL: "?",
    T_UINT64: "Q",
    T_INT64: "q",
    T_FLOAT64: "d",
}
VALUE_TYPE_NAMES: dict[int, str] = {
    T_UINT8: "uint8",
    T_INT8: "int8",
    T_UINT16: "uint16",
    T_INT16: "int16",
    T_UINT32: "uint32",
    T_INT32: "int32",
    T_FLOAT32: "float32",
    T_BOOL: "bool",
    T_STRING: "string",
    T_ARRAY: "array",
    T_UINT64: "uint64",
    T_INT64: "int64",
    T_FLOAT64: "float64",
}

# ggml tensor types: id -> (name, elements per block, bytes per block). From ggml's type traits.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}
GGML_TYPE_IDS: dict[str, int] = {name: tid for tid, (name, _, _) in GGML_TYPES.items()}

# general.file_type -> the name Ollama and llama.cpp print (llama_ftype).
FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
}


def file_type_name(file_type: int | None) -> str | None:
    if file_type is None:
        return None
    return FILE_TYPES.get(file_type, f"unknown ({file_type})")


def ggml_type_name(type_id: int) -> str:
    entry = GGML_TYPES.get(type_id)
    return entry[0] if entry else f"type_{type_id}"


def tensor_nbytes(type_id: int, n_elements: int) -> int | None:
    """Bytes of a tensor of this ggml type, or None for a type this table does not know."""
    entry = GGML_TYPES.get(type_id)
    if entry is None:
        return None
    _, block, size = entry
    return -(-n_elements // block) * size


@dataclass(frozen=True)
class ArrayRef:
    """An array that was skipped, not loaded: its element type and length."""

    item_type: int
    count: int

    def __len__(self) -> int:
        return self.count

    @property
    def item_type_name(self) -> str:
        return VALUE_TYPE_NAMES.get(self.item_type, str(self.item_type))


@dataclass(frozen=True)
class SkippedString:
    """A scalar string too long to keep (over KEEP_STRING_LIMIT bytes): only its length."""

    length: int


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # ggml order: ne0 (the contiguous dimension) first
    type_id: int
    offset: int  # relative to the start of the data section
    n_elements: int
    n_bytes: int | None  # None when the ggml type is unknown to this reader

    @property
    def type_name(self) -> str:
        return ggml_type_name(self.type_id)


@dataclass
class GGUFInfo:
    path: Path
    version: int
    byte_order: str  # "little" | "big"
    file_size: int
    metadata: dict[str, object]  # by key: the keys depend on the architecture
    tensors: list[TensorInfo] = field(default_factory=list)
    alignment: int = DEFAULT_ALIGNMENT
    data_offset: int = 0
    header_bytes: int = 0  # where the tensor-info table ends (before padding)

    @property
    def architecture(self) -> str | None:
        arch = self.metadata.get("general.architecture")
        return arch if isinstance(arch, str) else None

    def arch_key(self, suffix: str) -> Any:
        """``<arch>.<suffix>`` from the metadata, or None."""
        arch = self.architecture
        return self.metadata.get(f"{arch}.{suffix}") if arch else None

    @property
    def tensor_bytes(self) -> int:
        return sum(t.n_bytes or 0 for t in self.tensors)

    @property
    def parameter_count(self) -> int:
        return sum(t.n_elements for t in self.tensors)


class _Reader:
    """Bounded little/big-endian reads over a file with a private buffer (no mmap, no readahead of data)."""

    def __init__(self, fh: BinaryIO, path: str, size: int) -> None:
        self.fh = fh
        self.path = path
        self.size = size
        self.buf = b""
        self.pos = 0
        self.base = 0  # file offset of buf[0]
        self.chunk = _CHUNK
        self.set_order("<")

    def set_order(self, order: str) -> None:
        self.order = order
        self._u32 = struct.Struct(order + "I")
        self._u64 = struct.Struct(order + "Q")

    def tell(self) -> int:
        return self.base + self.pos

    def remaining(self) -> int:
        return self.size - self.tell()

    def fail(self, message: str) -> GGUFError:
        return GGUFError(message, file=self.path)

    def _need(self, n: int, what: str) -> None:
        if self.pos + n <= len(self.buf):
            return
        if n > self.remaining():
            raise self.fail(
                f"truncated file: {what} needs {n} bytes at offset {self.tell()}, but the file ends at {self.size}"
            )
        start = self.tell()
        self.fh.seek(start)
        data = self.fh.read(max(n, self.chunk))
        if len(data) < n:  # the file shrank under us
            raise self.fail(f"truncated file: {what} at offset {start} (short read)")
        self.buf, self.pos, self.base = data, 0, start

    def read(self, n: int, what: str) -> bytes:
        self._need(n, what)
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def skip(self, n: int, what: str) -> None:
        if n > self.remaining():
            raise self.fail(
                f"truncated file: {what} needs {n} bytes at offset {self.tell()}, but the file ends at {self.size}"
            )
        if self.pos + n <= len(self.buf):
            self.pos += n
        else:
            self.base, self.buf, self.pos = self.tell() + n, b"", 0

    def u32(self, what: str) -> int:
        self._need(4, what)
        (v,) = self._u32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return int(v)

    def u64(self, what: str) -> int:
        self._need(8, what)
        (v,) = self._u64.unpack_from(self.buf, self.pos)
        self.pos += 8
        return int(v)

    def scalar(self, vtype: int, what: str) -> Any:
        fmt = struct.Struct(self.order + _SCALAR_FORMATS[vtype])
        self._need(fmt.size, what)
        (v,) = fmt.unpack_from(self.buf, self.pos)
        self.pos += fmt.size
        return v

    def check_count(self, count: int, min_item: int, what: str) -> None:
        """Refuse a count whose items could not possibly fit in the rest of the file."""
        left = self.remaining()
        if count * min_item > left:
            raise self.fail(
                f"corrupt file: {what} is {count}, but only {left} bytes remain (at least {min_item} bytes per item)"
            )

    def string_length(self, what: str, limit: int | None = None) -> int:
        n = self.u64(f"{what} length")
        if limit is not None and n > limit:
            raise self.fail(f"corrupt file: {what} length {n} exceeds the limit of {limit} bytes")
        if n > self.remaining():
            raise self.fail(
                f"corrupt file: {what} length {n} runs past the end of the file "
                f"({self.remaining()} bytes remain at offset {self.tell()})"
            )
        return n

    def string(self, what: str, limit: int | None = None) -> str:
        n = self.string_length(what, limit)
        return self.read(n, what).decode("utf-8", errors="replace")

    def skip_strings(self, count: int, what: str) -> None:
        """Step over ``count`` length-prefixed strings, validating each length."""
        unpack = self._u64.unpack_from
        left = count
        while left:
            buf, pos, end = self.buf, self.pos, len(self.buf)
            last = end - 8
            # Fast path: walk the lengths inside the current buffer without any I/O
            # (the hot loop of a 400K-entry vocabulary: keep it minimal).
            done = 0
            for done in range(left):  # noqa: B007 - `done` is read after the loop
                if pos > last:
                    break
                nxt = pos + 8 + unpack(buf, pos)[0]
                if nxt > end:
                    break
                pos = nxt
            else:
                done = left
            left -= done
            self.pos = pos
            if left:  # one string that straddles the buffer edge (or a bad length): checked path
                n = self.string_length(f"{what} item")
                self.skip(n, f"{what} item")
                left -= 1


def _array_item_min_size(item_type: int) -> int:
    if item_type == T_STRING:
        return 8
    if item_type == T_ARRAY:
        return 12
    return struct.calcsize(_SCALAR_FORMATS[item_type])


def _read_value(r: _Reader, vtype: int, key: str, depth: int = 0) -> Any:
    if vtype in _SCALAR_FORMATS:
        return r.scalar(vtype, f"value of {key!r}")
    if vtype == T_STRING:
        n = r.string_length(f"string value of {key!r}")
        if n > KEEP_STRING_LIMIT:
            r.skip(n, f"string value of {key!r}")
            return SkippedString(n)
        return r.read(n, f"string value of {key!r}").decode("utf-8", errors="replace")
    if vtype == T_ARRAY:
        item_type = r.u32(f"array type of {key!r}")
        if item_type not in VALUE_TYPE_NAMES:
            raise r.fail(f"corrupt file: unknown array element type {item_type} for key {key!r}")
        count = r.u64(f"array length of {key!r}")
        r.check_count(count, _array_item_min_size(item_type), f"array length of {key!r}")
        if item_type in _SCALAR_FORMATS:
            size = struct.calcsize(_SCALAR_FORMATS[item_type])
            if count <= KEEP_ARRAY_LIMIT:
                data = r.read(count * size, f"array {key!r}")
                return list(struct.unpack(f"{r.order}{count}{_SCALAR_FORMATS[item_type]}", data))
            r.skip(count * size, f"array {key!r}")
        elif item_type == T_STRING:
            r.skip_strings(count, f"array {key!r}")
        else:  # nested arrays: rare; skip each one (bounded depth)
            if depth >= 4:
                raise r.fail(f"corrupt file: arrays nested too deeply in key {key!r}")
            for _ in range(count):
                _read_value(r, T_ARRAY, key, depth + 1)
        return ArrayRef(item_type, count)
    raise r.fail(f"corrupt file: unknown metadata value type {vtype} for key {key!r}")


def _open(path: Path) -> tuple[BinaryIO, int]:
    where = str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise GGUFError("no such file", file=where) from None
    except OSError as exc:
        raise GGUFError(f"cannot read: {exc.strerror or exc}", file=where) from None
    if stat.S_ISDIR(st.st_mode):
        raise GGUFError("is a directory, not a GGUF file", file=where)
    if not stat.S_ISREG(st.st_mode):
        raise GGUFError("not a regular file", file=where)
    # Opened without blocking and checked again on the descriptor: a FIFO swapped in since the
    # stat cannot hang the open.
    fh, size = open_regular(path, what="GGUF file", error=GGUFError)
    return fh, size


def read_gguf(path: str | os.PathLike[str]) -> GGUFInfo:
    """Read a GGUF file's header, metadata and tensor infos. Raises GGUFError on any problem."""
    p = Path(path)
    fh, size = _open(p)
    try:
        return _parse(fh, str(p), p, size)
    except OSError as exc:
        raise GGUFError(f"read error: {exc.strerror or exc}", file=str(p)) from None
    finally:
        fh.close()


def _read_version(r: _Reader) -> tuple[int, str]:
    """The version, and the byte order it reveals (a big-endian file reads as a huge little-endian number)."""
    raw_version = r.read(4, "version")
    version = struct.unpack("<I", raw_version)[0]
    if version in SUPPORTED_VERSIONS:
        return version, "<"
    swapped = struct.unpack(">I", raw_version)[0]
    if swapped in SUPPORTED_VERSIONS:
        return swapped, ">"
    if version == 1:
        raise r.fail("unsupported GGUF version 1 (an obsolete format; modelctl reads versions 2 and 3)")
    raise r.fail(f"unsupported GGUF version {version} (modelctl reads versions 2 and 3)")


def _read_header(r: _Reader, size: int) -> tuple[int, str, int, int]:
    """Magic, version and the two counts: (version, byte order, tensor count, metadata count).

    The fixed header is read on its own, so a file that is not GGUF, or has impossible
    counts, is refused after reading 24 bytes.
    """
    r.chunk = 24
    if size < 4:
        raise r.fail(f"not a GGUF file: only {size} bytes, too short for the GGUF magic")
    magic = r.read(4, "magic")
    if magic != MAGIC:
        raise r.fail(f"not a GGUF file: it starts with {magic!r}, not {MAGIC!r}")
    version, order = _read_version(r)
    r.set_order(order)
    n_tensors = r.u64("tensor count")
    n_kv = r.u64("metadata count")
    # Each metadata entry takes >= 13 bytes (key length, value type, a 1-byte value);
    # each tensor info >= 24 (name length, n_dims, type, offset).
    r.check_count(n_kv, 13, "metadata count")
    r.check_count(n_tensors, 24, "tensor count")
    if n_kv * 13 + n_tensors * 24 > r.remaining():
        raise r.fail(
            f"corrupt file: {n_kv} metadata entries and {n_tensors} tensor infos cannot fit in "
            f"the {r.remaining()} bytes that remain"
        )
    r.chunk = _CHUNK
    return version, order, n_tensors, n_kv


def _read_metadata(r: _Reader, n_kv: int) -> dict[str, object]:
    metadata: dict[str, object] = {}
    for i in range(n_kv):
        key = r.string(f"metadata key #{i}", limit=MAX_KEY_LENGTH)
        vtype = r.u32(f"value type of {key!r}")
        if vtype not in VALUE_TYPE_NAMES:
            raise r.fail(f"corrupt file: unknown metadata value type {vtype} for key {key!r}")
        metadata[key] = _read_value(r, vtype, key)
    return metadata


def _alignment(r: _Reader, metadata: dict[str, object]) -> int:
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0 or (alignment & (alignment - 1)):
        raise r.fail(f"corrupt file: general.alignment must be a power of two, got {alignment!r}")
    return alignment


def _read_tensor_infos(r: _Reader, n_tensors: int) -> list[tuple[str, tuple[int, ...], int, int]]:
    """The raw tensor-info table: (name, shape, ggml type, offset) per tensor."""
    infos: list[tuple[str, tuple[int, ...], int, int]] = []
    for i in range(n_tensors):
        name = r.string(f"name of tensor #{i}", limit=MAX_NAME_LENGTH)
        n_dims = r.u32(f"dimension count of tensor {name!r}")
        if n_dims > MAX_DIMS:
            raise r.fail(f"corrupt file: tensor {name!r} has {n_dims} dimensions (at most {MAX_DIMS})")
        dims = tuple(r.u64(f"shape of tensor {name!r}") for _ in range(n_dims))
        type_id = r.u32(f"type of tensor {name!r}")
        offset = r.u64(f"offset of tensor {name!r}")
        infos.append((name, dims, type_id, offset))
    return infos


def _tensor_info(r: _Reader, info: tuple[str, tuple[int, ...], int, int], data_offset: int, size: int) -> TensorInfo:
    """One tensor's element count and byte size, checked against its type's block size and the file's end."""
    name, dims, type_id, offset = info
    n_el = 1
    for d in dims:
        n_el *= d
    entry = GGML_TYPES.get(type_id)
    nbytes: int | None = None
    if entry is not None:
        if dims and dims[0] % entry[1]:
            raise r.fail(
                f"corrupt file: tensor {name!r} of type {entry[0]} has a first dimension {dims[0]} "
                f"that is not a multiple of its block size {entry[1]}"
            )
        nbytes = tensor_nbytes(type_id, n_el)
    end = offset + (nbytes or 0)
    if end > size - data_offset:
        raise r.fail(
            f"truncated or corrupt file: tensor {name!r} needs bytes up to {data_offset + end}, "
            f"but the file ends at {size}"
        )
    return TensorInfo(name, dims, type_id, offset, n_el, nbytes)


def _parse(fh: BinaryIO, where: str, path: Path, size: int) -> GGUFInfo:
    r = _Reader(fh, where, size)
    version, order, n_tensors, n_kv = _read_header(r, size)
    metadata = _read_metadata(r, n_kv)
    alignment = _alignment(r, metadata)
    infos = _read_tensor_infos(r, n_tensors)

    header_bytes = r.tell()
    data_offset = -(-header_bytes // alignment) * alignment
    tensors = [_tensor_info(r, info, data_offset, size) for info in infos]
    _fill_unknown_sizes(tensors, size - data_offset)

    return GGUFInfo(
        path=path,
        version=version,
        byte_order="little" if order == "<" else "big",
        file_size=size,
        metadata=metadata,
        tensors=tensors,
        alignment=alignment,
        data_offset=data_offset,
        header_bytes=header_bytes,
    )


def _fill_unknown_sizes(tensors: list[TensorInfo], data_size: int) -> None:
    """A tensor of a type newer than this table: take its size from the next tensor's offset."""
    if all(t.n_bytes is not None for t in tensors):
        return
    offsets = sorted({t.offset for t in tensors} | {data_size})
    for i, t in enumerate(tensors):
        if t.n_bytes is None:
            nxt = next(o for o in offsets if o > t.offset) if t.offset < data_size else data_size
            tensors[i] = TensorInfo(t.name, t.shape, t.type_id, t.offset, t.n_elements, nxt - t.offset)


def iter_layer_indices(tensors: list[TensorInfo], suffix: str) -> Iterator[tuple[int, TensorInfo]]:
    """(layer index, tensor) for tensors named ``blk.<i>.<suffix>``."""
    for t in tensors:
        if t.name.startswith("blk.") and t.name.endswith("." + suffix):
            middle = t.name[4 : -len(suffix) - 1]
            if middle.isdigit():
                yield int(middle), t
