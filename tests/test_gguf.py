"""The GGUF metadata reader and facts_from_gguf: every fact checked against what the test wrote."""

from __future__ import annotations

import json
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from modelctl.cli import cli
from modelctl.common.units import human_number
from modelctl.errors import GGUFError
from modelctl.memory.facts import facts_from_gguf
from modelctl.memory.gguf import FILE_TYPES, GGML_TYPES, ArrayRef, read_gguf
from tests.fixtures_gguf import (
    F16,
    F32,
    Q8_0,
    TINY_VOCAB,
    tiny_llama_expected,
    write_big_header_gguf,
    write_tiny_gguf,
    write_tiny_llama,
)


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# --------------------------------------------------------------------------------------------
# tables agree with ggml's (as shipped in the gguf package)


def test_ggml_type_table_matches_gguf_package() -> None:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    for tid, (name, block, size) in GGML_TYPES.items():
        qt = GGMLQuantizationType(tid)
        assert qt.name == name
        assert GGML_QUANT_SIZES[qt] == (block, size)


def test_file_type_names_match_llama_ftype() -> None:
    from gguf.constants import LlamaFileType

    for ft, name in FILE_TYPES.items():
        assert LlamaFileType(ft).name.removeprefix("MOSTLY_").removeprefix("ALL_") == name
    assert FILE_TYPES[15] == "Q4_K_M"


# --------------------------------------------------------------------------------------------
# facts of generated files


@pytest.mark.parametrize("tensor_type", [F32, F16, Q8_0])
def test_tiny_llama_facts(tmp_path: Path, tensor_type: str) -> None:
    path = write_tiny_llama(tmp_path / "m.gguf", context_length=4096, tensor_type=tensor_type)
    f = facts_from_gguf(path)
    exp = tiny_llama_expected(tensor_type)
    assert f.architecture == "llama"
    assert f.name == "tiny-llama"
    assert f.context_trained == 4096
    assert f.embedding_length == 64
    assert f.block_count == 2
    assert f.feed_forward_length == 128
    assert f.head_count == 4 and f.head_count_kv == 2
    assert (f.key_length, f.value_length) == (16, 16)
    assert f.key_value_length_source == "embedding_length / head_count"
    assert f.vocab_size == TINY_VOCAB
    assert f.tokenizer_model == "llama"
    assert f.chat_template is True
    assert f.parameter_count == exp["parameter_count"]
    assert f.weights_bytes == exp["weights_bytes"]
    assert f.tensor_count == exp["tensor_count"]
    assert f.quantization == {F32: "F32", F16: "F16", Q8_0: "Q8_0"}[tensor_type]
    assert f.file_type == {F32: 0, F16: 1, Q8_0: 7}[tensor_type]
    n_mat = exp["tensor_count"] - 5
    if tensor_type == F32:
        assert f.tensor_types == {"F32": exp["tensor_count"]}
    else:
        assert f.tensor_types == {tensor_type: n_mat, "F32": 5}
    assert f.bits_per_weight == pytest.approx(exp["weights_bytes"] * 8 / exp["parameter_count"], abs=1e-4)
    assert f.size_bytes == path.stat().st_size
    assert f.parameter_size == human_number(exp["parameter_count"])


def test_facts_agree_with_the_gguf_package_reader(tmp_path: Path) -> None:
    from gguf import GGUFReader

    path = write_tiny_llama(tmp_path / "m.gguf", tensor_type=Q8_0)
    ref = GGUFReader(path)
    info = read_gguf(path)
    assert [t.name for t in info.tensors] == [t.name for t in ref.tensors]
    assert [t.n_bytes for t in info.tensors] == [int(t.n_bytes) for t in ref.tensors]
    assert [t.n_elements for t in info.tensors] == [int(t.n_elements) for t in ref.tensors]
    assert [t.type_id for t in info.tensors] == [int(t.tensor_type) for t in ref.tensors]
    assert info.data_offset == ref.data_offset
    tokens = info.metadata["tokenizer.ggml.tokens"]
    assert isinstance(tokens, ArrayRef) and tokens.count == len(ref.fields["tokenizer.ggml.tokens"].data)


def test_file_type_label_is_taken_from_general_file_type(tmp_path: Path) -> None:
    f = facts_from_gguf(write_tiny_llama(tmp_path / "m.gguf", file_type=15))
    assert f.quantization == "Q4_K_M" and f.file_type == 15


def test_no_chat_template(tmp_path: Path) -> None:
    assert facts_from_gguf(write_tiny_llama(tmp_path / "m.gguf", chat_template=None)).chat_template is False


def test_gemma_like_key_value_lengths_differ_from_embedding_over_heads(tmp_path: Path) -> None:
    path = write_tiny_gguf(
        tmp_path / "g.gguf",
        arch="gemma2",
        embedding_length=64,
        head_count=4,
        head_count_kv=2,
        key_length=32,
        value_length=32,
        sliding_window=128,
        context_length=8192,
    )
    f = facts_from_gguf(path)
    assert f.architecture == "gemma2"
    assert (f.key_length, f.value_length) == (32, 32)  # not 64 / 4 = 16
    assert f.key_value_length_source == "metadata"
    assert f.sliding_window == 128
    info = read_gguf(path)
    assert [t.shape for t in info.tensors if t.name == "blk.0.attn_k.weight"] == [(64, 2 * 32)]


def test_per_layer_kv_head_arrays(tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "p.gguf", block_count=4, head_count=[4, 4, 4, 4], head_count_kv=[1, 2, 4, 2])
    f = facts_from_gguf(path)
    assert f.head_count == [4, 4, 4, 4]
    assert f.head_count_kv == [1, 2, 4, 2]
    assert f.block_count == 4


def test_missing_head_count_kv_means_no_gqa(tmp_path: Path) -> None:
    f = facts_from_gguf(write_tiny_gguf(tmp_path / "m.gguf", head_count_kv=None))
    assert f.head_count_kv == 4


def test_big_endian_file(tmp_path: Path) -> None:
    from gguf import GGUFEndian, GGUFWriter

    path = tmp_path / "be.gguf"
    w = GGUFWriter(str(path), "llama", endianess=GGUFEndian.BIG)
    w.add_uint32("llama.context_length", 2048)
    w.add_uint32("llama.block_count", 1)
    w.add_array("tokenizer.ggml.tokens", ["a", "b", "c"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    info = read_gguf(path)
    assert info.byte_order == "big"
    assert info.metadata["llama.context_length"] == 2048
    assert info.metadata["tokenizer.ggml.tokens"] == ArrayRef(8, 3)


def test_real_sized_header_llama3_8b(tmp_path: Path) -> None:
    path = write_big_header_gguf(tmp_path / "big.gguf")
    f = facts_from_gguf(path)
    assert f.vocab_size == 128256
    assert f.tensor_count == 291
    assert f.parameter_count == 8_030_261_248  # Llama-3-8B's published count
    assert f.parameter_size == "8.0B"
    assert f.quantization == "Q4_K_M"
    assert f.tokenizer_model == "gpt2"
    assert f.chat_template is True
    assert f.tensor_types == {"Q4_K": 193, "F32": 65, "Q6_K": 33}
    assert (f.head_count, f.head_count_kv, f.key_length) == (32, 8, 128)
    info = read_gguf(path)
    assert info.metadata["tokenizer.ggml.merges"] == ArrayRef(8, 280147)
    assert info.metadata["tokenizer.ggml.token_type"] == ArrayRef(5, 128256)


def test_sparse_8gib_file_reads_like_the_small_one(tmp_path: Path) -> None:
    small = write_tiny_llama(tmp_path / "small.gguf")
    big = tmp_path / "big.gguf"
    big.write_bytes(small.read_bytes())
    with open(big, "r+b") as fh:
        fh.truncate(8 << 30)
    a, b = facts_from_gguf(small).to_dict(), facts_from_gguf(big).to_dict()
    assert b.pop("size_bytes") == 8 << 30
    a.pop("size_bytes")
    a.pop("path")
    b.pop("path")
    assert a == b


# --------------------------------------------------------------------------------------------
# bad files: exit 1, one clear line, no traceback, no reading past what is needed


def _header(version: int = 3, n_tensors: int = 0, n_kv: int = 0) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)


def _key(k: str) -> bytes:
    return struct.pack("<Q", len(k)) + k.encode()


BAD_FILES: dict[str, tuple[bytes, str]] = {
    "wrong_magic": (b"GGML" + b"\0" * 60, "not a GGUF file"),
    "empty": (b"", "not a GGUF file"),
    "unknown_version": (_header(version=7), "unsupported GGUF version 7"),
    "version_1": (_header(version=1), "unsupported GGUF version 1"),
    "truncated_counts": (b"GGUF" + struct.pack("<I", 3) + b"\1\0\0", "truncated"),
    "metadata_count_2_60": (_header(n_kv=2**60) + b"\0" * 64, "metadata count is 1152921504606846976"),
    "tensor_count_beyond_size": (_header(n_tensors=10**6) + b"\0" * 64, "tensor count is 1000000"),
    "key_length_2_60": (_header(n_kv=1) + struct.pack("<Q", 2**60) + b"\0" * 64, "length 1152921504606846976"),
    "string_value_length_2_60": (
        _header(n_kv=1) + _key("general.name") + struct.pack("<IQ", 8, 2**60) + b"\0" * 32,
        "string value of 'general.name' length 1152921504606846976",
    ),
    "array_count_2_60": (
        _header(n_kv=1) + _key("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2**60) + b"\0" * 32,
        "array length of 'tokenizer.ggml.tokens' is 1152921504606846976",
    ),
    "array_string_item_2_60": (
        _header(n_kv=1)
        + _key("tokenizer.ggml.tokens")
        + struct.pack("<IIQ", 9, 8, 2)
        + struct.pack("<Q", 1)
        + b"a"
        + struct.pack("<Q", 2**60)
        + b"\0" * 32,
        "runs past the end of the file",
    ),
    "unknown_value_type": (
        _header(n_kv=1) + _key("x") + struct.pack("<I", 99) + b"\0" * 16,
        "unknown metadata value type 99",
    ),
    "too_many_dims": (_header(n_tensors=1) + _key("t") + struct.pack("<I", 9) + b"\0" * 200, "has 9 dimensions"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_a_clear_error(tmp_path: Path, case: str) -> None:
    data, expected = BAD_FILES[case]
    path = tmp_path / f"{case}.gguf"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(GGUFError) as exc:
            read_gguf(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert expected in str(exc.value)
    assert exc.value.file == str(path)
    assert peak < 4 << 20  # nothing was allocated from the bogus count
    result = CliRunner().invoke(cli, ["inspect", str(path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.strip().startswith("error: ")
    assert expected in result.output


class _CountingFile:
    def __init__(self, fh: Any) -> None:
        self.fh, self.bytes_read = fh, 0

    def read(self, n: int) -> bytes:
        data = self.fh.read(n)
        self.bytes_read += len(data)
        return bytes(data)

    def seek(self, pos: int) -> int:
        return int(self.fh.seek(pos))

    def close(self) -> None:
        self.fh.close()


@pytest.mark.parametrize("case", ["wrong_magic", "unknown_version", "metadata_count_2_60", "tensor_count_beyond_size"])
def test_bad_header_is_refused_after_24_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    import modelctl.memory.gguf as g

    data, expected = BAD_FILES[case]
    path = tmp_path / "bad.gguf"
    path.write_bytes(data + b"\0" * (4 << 20))  # plenty of bytes after the bad field
    opened: list[_CountingFile] = []
    real_open = g._open

    def counting_open(p: Path) -> tuple[Any, int]:
        fh, size = real_open(p)
        opened.append(_CountingFile(fh))
        return opened[-1], size

    monkeypatch.setattr(g, "_open", counting_open)
    with pytest.raises(GGUFError, match=expected.split(" is ")[0]):
        g.read_gguf(path)
    assert 0 < opened[0].bytes_read <= 24


def test_truncated_real_file(tmp_path: Path) -> None:
    whole = write_tiny_llama(tmp_path / "m.gguf").read_bytes()
    for cut in (10, 30, 200, 2000, len(whole) // 2):
        path = tmp_path / f"cut{cut}.gguf"
        path.write_bytes(whole[:cut])
        with pytest.raises(GGUFError, match="truncated|runs past|corrupt"):
            read_gguf(path)


def test_tensor_data_beyond_the_end_is_reported(tmp_path: Path) -> None:
    whole = write_tiny_llama(tmp_path / "m.gguf")
    info = read_gguf(whole)
    path = tmp_path / "short.gguf"
    path.write_bytes(whole.read_bytes()[: info.data_offset + 100])
    with pytest.raises(GGUFError, match="truncated or corrupt file: tensor"):
        read_gguf(path)


def test_directory_and_missing_file(tmp_path: Path) -> None:
    for target, message in ((tmp_path, "is a directory"), (tmp_path / "nope.gguf", "no such file")):
        result = CliRunner().invoke(cli, ["inspect", str(target)])
        assert result.exit_code == 1
        assert message in result.output and "Traceback" not in result.output


def test_missing_file_json_envelope(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["inspect", str(tmp_path / "nope.gguf"), "--format", "json"])
    assert result.exit_code == 1
    env = json.loads(result.stdout)
    assert env["ok"] is False and env["errors"][0]["code"] == "gguf"
    assert env["errors"][0]["file"].endswith("nope.gguf")


# --------------------------------------------------------------------------------------------
# the command


def test_inspect_json_has_the_shared_keys(tmp_path: Path) -> None:
    path = write_tiny_llama(tmp_path / "m.gguf", context_length=2048)
    result = run("inspect", str(path), "--format", "json")
    assert result.exit_code == 0, result.output
    env = json.loads(result.output)
    assert env["command"] == "inspect" and env["ok"] is True
    d = env["data"]
    for key in (
        "architecture",
        "parameter_count",
        "quantization",
        "context_length",
        "embedding_length",
        "block_count",
        "head_count",
        "head_count_kv",
        "key_length",
        "value_length",
        "feed_forward_length",
        "vocab_size",
        "tokenizer_model",
        "chat_template",
        "tensor_types",
        "bits_per_weight",
        "size_bytes",
        "file_type",
    ):
        assert key in d
    assert d["context_length"] == {"trained": 2048, "configured": None, "runtime": None}
    assert d["kv_bytes_per_token_f16"] == 2 * 2 * (16 + 16) * 2  # layers x kv heads x (k+v) x 2 bytes


def test_inspect_text(tmp_path: Path) -> None:
    path = write_tiny_llama(tmp_path / "m.gguf")
    result = run("inspect", str(path))
    assert result.exit_code == 0
    out = result.output
    assert "architecture         llama" in out
    assert "F16 (general.file_type 1)" in out
    assert "4,096 tokens (trained)" in out
    assert "KiB" in out and " GB" not in out and " MB" not in out


# --------------------------------------------------------------------------------------------
# fuzz: a damaged header is either read or refused with GGUFError - never another exception


_VALID: dict[str, bytes] = {}
_VALID_HEADER_END: dict[str, int] = {}


def _valid_bytes() -> bytes:
    if "tiny" not in _VALID:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            _VALID["tiny"] = write_tiny_llama(Path(d) / "t.gguf", tensor_type=Q8_0).read_bytes()
    return _VALID["tiny"]


@settings(max_examples=80)
@given(data=st.data())
def test_damaged_headers_never_crash(data: st.DataObject) -> None:
    from modelctl.errors import ModelctlError
    from modelctl.memory.memory import estimate_for_facts

    raw = bytearray(_valid_bytes())
    header_end = _VALID_HEADER_END.setdefault("tiny", read_gguf_bytes_header_end(bytes(raw)))
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, header_end - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".gguf") as fh:
        fh.write(bytes(raw))
        fh.flush()
        try:
            facts = facts_from_gguf(fh.name)
            estimate_for_facts(facts, 512)
        except ModelctlError:
            pass


def read_gguf_bytes_header_end(raw: bytes) -> int:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".gguf") as fh:
        fh.write(raw)
        fh.flush()
        return read_gguf(fh.name).header_bytes


def test_unknown_tensor_type_is_sized_from_the_offsets(tmp_path: Path) -> None:
    path = write_tiny_llama(tmp_path / "m.gguf")
    info = read_gguf(path)
    last = info.tensors[-1]
    raw = bytearray(path.read_bytes())
    raw[info.header_bytes - 12 : info.header_bytes - 8] = struct.pack("<I", 99)  # its type field
    path.write_bytes(bytes(raw))
    again = read_gguf(path)
    assert again.tensors[-1].type_name == "type_99"
    assert again.tensors[-1].n_bytes == last.n_bytes  # the gap to the end of the data
    f = facts_from_gguf(path)
    assert f.tensor_types["type_99"] == 1
    assert f.weights_bytes == info.tensor_bytes


def test_inspect_text_per_layer_heads(tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "p.gguf", block_count=4, head_count=4, head_count_kv=[1, 2, 4, 2])
    out = run("inspect", str(path)).output
    assert "KV heads             per layer [1, 2, 4, 2]" in out
    assert "KV cache per token   576 B at f16" in out  # (1+2+4+2) x (16+16) x 2 bytes
