"""Unit tests for the report: /api/show `parameters` parsing, float32 comparison, rendering, progress."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelctl.common.events import progress_event
from modelctl.common.units import format_value
from modelctl.jobs.show import processor_text, runtime_reason
from modelctl.ollama.wire import f32, find_entry, go_unquote, parse_parameters, same_value
from modelctl.output.progress import Progress, should_show
from modelctl.output.show import report_text as render_text


def go_quote(s: str) -> str:
    """Go's strconv.Quote for the characters the tests use."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def line(key: str, value: str) -> str:
    return f"{key:<30} {value}"


def test_parse_go_syntax_random_order_and_repeated_stop() -> None:
    text = "\n".join(
        [
            line("temperature", "0.7"),
            line("stop", '"<|im_end|>"'),
            line("num_ctx", "1.048576e+06"),
            line("use_mmap", "false"),
            line("stop", '"say \\"hi\\"\\n"'),
            line("seed", "-1"),
            line("top_p", "1e-05"),
        ]
    )
    params = parse_parameters(text)
    assert params == {
        "num_ctx": 1048576,
        "use_mmap": False,
        "seed": -1,
        "top_p": 1e-05,
        "temperature": 0.7,
        "stop": ["<|im_end|>", 'say "hi"\n'],
    }
    assert isinstance(params["num_ctx"], int) and isinstance(params["temperature"], float)
    assert list(params) == ["num_ctx", "use_mmap", "seed", "top_p", "temperature", "stop"]  # catalogue order


def test_go_unquote_escapes() -> None:
    assert go_unquote('"a\\tb\\x07\\u00e9\\U0001f600\\\\"') == "a\tb\x07é😀\\"
    assert go_unquote('"\\xe2\\x82\\xac"') == "€"  # \x escapes are bytes, as in Go
    with pytest.raises(ValueError):
        go_unquote("not quoted")


@given(st.text(max_size=30))
def test_go_quote_round_trip(s: str) -> None:
    assert parse_parameters(line("stop", go_quote(s)))["stop"] == [s]


def test_empty_and_unknown_keys() -> None:
    assert parse_parameters("") == {}
    assert parse_parameters(None) == {}
    assert parse_parameters(line("future_knob", "3")) == {"future_knob": 3}


def test_float32_comparison() -> None:
    assert same_value("temperature", 0.7, 0.699999988079071)
    assert not same_value("temperature", 0.7, 0.71)
    assert same_value("num_ctx", 8192, 8192.0)
    assert not same_value("num_ctx", 8192, 8193)
    assert same_value("stop", ["a", "b"], ["b", "a"])
    assert not same_value("stop", ["a"], ["a", "b"])
    assert same_value("use_mmap", False, False) and not same_value("use_mmap", False, True)
    assert f32(0.1) != 0.1 and f32(f32(0.1)) == f32(0.1)
    assert format_value(0.699999988079071) == "0.7"
    assert format_value(["a", "b"]) == '["a", "b"]'


def test_find_entry_normalises_latest() -> None:
    listing = {"models": [{"name": "chef:latest", "size": 5}, {"name": "other:v1"}]}
    assert find_entry(listing, "chef") == {"name": "chef:latest", "size": 5}
    assert find_entry(listing, "CHEF:latest") is not None
    assert find_entry(listing, "other") is None


def test_processor_text() -> None:
    assert processor_text(100, 0) == "100% CPU"
    assert processor_text(100, 100) == "100% GPU"
    assert processor_text(100, 52) == "48%/52% CPU/GPU"
    assert processor_text(None, None) is None


def test_runtime_reasons() -> None:
    assert "clamped it to the model's trained context length 4096" in runtime_reason(8192, 4096, 4096)
    assert "did not fit in memory" in runtime_reason(8192, 4096, 131072)
    assert "2 parallel slots" in runtime_reason(4096, 8192, 131072)


def test_render_text_shows_every_fact() -> None:
    data: dict[str, Any] = {
        "name": "chef",
        "host": "http://127.0.0.1:11434",
        "base": "llama3.2:3b",
        "architecture": "llama",
        "parameter_count": 3212749888,
        "parameter_size": "3.2B",
        "quantization": "Q4_K_M",
        "context_length": {"trained": 131072, "configured": None, "runtime": None},
        "embedding_length": 3072,
        "block_count": 28,
        "head_count": 24,
        "head_count_kv": 8,
        "capabilities": ["completion", "tools"],
        "parameters": {"temperature": 1.1, "stop": ["x"]},
        "size_bytes": 2019393189,
        "system_set": True,
        "system_length": 12,
        "template_set": False,
    }
    text = render_text(data)
    for needle in (
        "chef",
        "llama3.2:3b",
        "3.2B (3,212,749,888)",
        "Q4_K_M",
        "131,072",
        "server default",
        "3,072",
        "28",
        "24 (KV heads 8)",
        "completion, tools",
        "1.88 GiB",
        "set (12 characters)",
        "temperature",
        "1.1",
        '["x"]',
    ):
        assert needle in text, needle


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_tty_and_in_text_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    assert should_show("text", False, FakeTTY())
    assert not should_show("json", False, FakeTTY())
    assert not should_show("text", True, FakeTTY())
    assert not should_show("text", False, io.StringIO())
    monkeypatch.setenv("TERM", "dumb")  # no live redrawing on a dumb terminal
    assert not should_show("text", False, FakeTTY())


def test_progress_draws_status_lines_and_bars() -> None:
    out = FakeTTY()
    p = Progress(True, out)

    def stream_event(obj: dict[str, Any]) -> None:
        event = progress_event(obj, "chef")
        assert event is not None
        p(event)

    stream_event({"status": "pulling manifest"})
    stream_event({"status": "pulling manifest"})  # repeated: printed once
    stream_event({"status": "pulling 3f1a2b3c4d5e", "digest": "sha256:" + "3" * 64, "total": 2048, "completed": 1024})
    p._bars.refresh()  # type: ignore[union-attr] - draw now rather than at the next tick
    stream_event({"status": "pulling 3f1a2b3c4d5e", "digest": "sha256:" + "3" * 64, "total": 2048, "completed": 2048})
    stream_event({"status": "success"})
    p.close()
    text = out.getvalue()
    assert text.count("chef: pulling manifest") == 1
    assert "chef: pulling 3f1a2b3c4d5e" in text and "1.00 KiB/2.00 KiB" in text  # a bar: bytes of the total
    assert "━" in text  # rich's bar
    assert "chef: success" in text
    silent = io.StringIO()
    q = Progress(False, silent)
    event = progress_event({"status": "pulling manifest"})
    assert event is not None
    q(event)
    assert silent.getvalue() == ""


def test_remaining_keep_alive_reads_go_rfc3339() -> None:
    from datetime import datetime, timezone

    from modelctl.jobs.show import remaining_keep_alive
    from modelctl.ollama.wire import parse_rfc3339

    now = datetime(2026, 11, 26, 7, 0, 0, tzinfo=timezone.utc)
    # Nanoseconds and a local offset, as Ollama writes them.
    assert parse_rfc3339("2026-11-26T09:10:00.123456789+02:00") == datetime(
        2026, 11, 26, 7, 10, 0, 123456, tzinfo=timezone.utc
    )
    assert remaining_keep_alive("2026-11-26T07:10:00.5Z", default="30s", now=now) == 601
    assert remaining_keep_alive("2318-01-01T00:00:00Z", default="30s", now=now) == -1
    assert remaining_keep_alive("2026-11-26T06:59:00Z", default="30s", now=now) == "30s"
    assert remaining_keep_alive("soon", default="30s", now=now) == "30s"
    assert remaining_keep_alive(None, default="30s", now=now) == "30s"


def test_render_text_memory_names_the_context_it_was_estimated_at() -> None:
    """num_ctx above the trained length: the estimate is for the capped context; say which."""
    data: dict[str, Any] = {
        "name": "m",
        "context_length": {"trained": 131072, "configured": 200000, "runtime": None},
        "memory": {"num_ctx": 200000, "effective_num_ctx": 131072, "total_bytes": 17682983168},
    }
    text = render_text(data)
    assert "16.47 GiB at num_ctx 131,072 (capped from 200,000)" in text, text
    data["memory"] = {"num_ctx": 8192, "effective_num_ctx": 8192, "total_bytes": 3 << 30}
    assert "3.00 GiB at num_ctx 8,192\n" in render_text(data)
