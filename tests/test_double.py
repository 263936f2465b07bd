"""The Ollama API double follows the reference: formats, merge semantics, statuses, errors, runners."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelctl.common.files import sha256_file
from modelctl.errors import ServerError, ServerUnreachable
from modelctl.ollama.server import ModelNotFound, OllamaClient
from tests.ollama_double import (
    OllamaDouble,
    closed_port_url,
    fs_valid_path,
    go_float,
    go_quote,
    human_number,
    parse_go_duration,
    parse_name,
)

try:
    from tests.fixtures_gguf import write_tiny_llama
except ImportError:  # pragma: no cover - the factory lives in another area
    write_tiny_llama = None  # type: ignore[assignment]


@pytest.fixture
def client(ollama_double: OllamaDouble) -> Iterator[OllamaClient]:
    with OllamaClient(ollama_double.url) as c:
        yield c


@pytest.fixture
def http(ollama_double: OllamaDouble) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ollama_double.url, timeout=10) as c:
        yield c


def statuses(events: list[dict[str, Any]]) -> list[str]:
    return [e.get("status", "") for e in events]


def tiny_gguf(path: Path, context_length: int = 4096) -> Path:
    if write_tiny_llama is not None:
        return write_tiny_llama(path, context_length=context_length)
    import numpy as np
    from gguf import GGUFWriter

    w = GGUFWriter(str(path), "llama")
    w.add_name("tiny")
    w.add_context_length(context_length)
    w.add_embedding_length(64)
    w.add_block_count(2)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_file_type(1)
    w.add_token_list([f"t{i}" for i in range(16)])
    w.add_tensor("token_embd.weight", np.zeros((16, 64), dtype=np.float16))
    w.add_tensor("output_norm.weight", np.zeros((64,), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def upload(client: OllamaClient, path: Path) -> str:
    digest = sha256_file(path)
    if not client.blob_exists(digest):
        client.upload_blob(path, digest)
    return digest


def create(client: OllamaClient, **req: Any) -> list[dict[str, Any]]:
    return list(client.create(req))


# --------------------------------------------------------------------------- Go formatting


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (4096, "4096"),
        (0.7, "0.7"),
        (1_000_000, "1e+06"),
        (1048576, "1.048576e+06"),
        (999999, "999999"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-1, "-1"),
        (3.0, "3"),
        (0.30000001192092896, "0.30000001192092896"),
        (131072, "131072"),
        (12345678.9, "1.23456789e+07"),
    ],
)
def test_go_float(value: float, text: str) -> None:
    assert go_float(value) == text


def test_go_quote() -> None:
    assert go_quote('say "hi"\n') == '"say \\"hi\\"\\n"'
    assert go_quote("tab\there\\") == '"tab\\there\\\\"'
    assert go_quote("é日本") == '"é日本"'
    assert go_quote("\x07\u00a0") == '"\\a\\u00a0"'


def test_human_number_and_names() -> None:
    assert [human_number(n) for n in (8_000_000_000, 3_212_749_888, 137_000_000, 22_570_000, 512_000, 12)] == [
        "8B",
        "3.2B",
        "137M",
        "22.57M",
        "512K",
        "12",
    ]
    assert parse_name("llama3.2").short == "llama3.2:latest"  # type: ignore[union-attr]
    assert parse_name("Acme/Helper:V1").key == parse_name("acme/helper:v1").key  # type: ignore[union-attr]
    assert parse_name("acme/helper:v1").short == "acme/helper:v1"  # type: ignore[union-attr]
    for bad in ("", "bad name", "/abs/path.gguf", "a.b/c/d/e", "-x", "ns.dot/model"):
        assert parse_name(bad) is None, bad
    assert parse_name("x.gguf") is not None  # a valid name (a pull of it fails later)


def test_fs_valid_path_and_durations() -> None:
    assert fs_valid_path("a.gguf") and fs_valid_path("sub/a.gguf")
    assert not any(fs_valid_path(p) for p in ("./a.gguf", "../a", "/abs", "a//b", "", "a/"))
    assert parse_go_duration("1h30m") == 5400 and parse_go_duration("-1m") == -60 and parse_go_duration("0") == 0
    with pytest.raises(ValueError, match='missing unit in duration "300"'):
        parse_go_duration("300")


# --------------------------------------------------------------------------- simple endpoints


def test_root_version_tags(ollama_double: OllamaDouble, http: httpx.Client) -> None:
    assert http.get("/").text == "Ollama is running"
    assert http.get("/api/version").json() == {"version": ollama_double.state.version}
    ollama_double.state.version = "0.5.4"
    assert http.get("/api/version").json() == {"version": "0.5.4"}
    assert http.get("/api/tags").json() == {"models": []}
    ollama_double.install("llama3.2:1b")
    ollama_double.install("qwen3:8b")
    ollama_double.state.get("llama3.2:1b").modified_at = ollama_double.state.get("qwen3:8b").modified_at.replace(
        year=2020
    )
    assert "capabilities" not in http.get("/api/tags").json()["models"][0]  # not before 0.30.0
    ollama_double.state.version = "0.30.0"  # tags carry capabilities and lengths from 0.30.0 (api/types.go)
    models = http.get("/api/tags").json()["models"]
    assert [m["name"] for m in models] == ["qwen3:8b", "llama3.2:1b"]
    assert models[0]["details"]["context_length"] == 40960 and models[0]["details"]["embedding_length"] == 4096
    assert len(models[0]["digest"]) == 64 and models[0]["capabilities"] == ["completion", "tools", "thinking"]
    assert http.get("/api/nope").status_code == 404


def test_show_registry_model(ollama_double: OllamaDouble, client: OllamaClient) -> None:
    ollama_double.install("llama3.2:3b")
    s = client.show("llama3.2:3b")
    assert s["details"] == {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "3.2B",
        "quantization_level": "Q4_K_M",
    }
    info = s["model_info"]
    assert info["llama.context_length"] == 131072 and info["general.parameter_count"] == 3212749888
    assert info["tokenizer.ggml.tokens"] is None  # arrays only when verbose (null since 0.6.7)
    assert len(client.show("llama3.2:3b", verbose=True)["model_info"]["tokenizer.ggml.tokens"]) == 12
    assert {"tensors", "capabilities", "modified_at", "template", "modelfile", "license"} <= set(s)
    assert sum(1 if not t["shape"] else math.prod(t["shape"]) for t in s["tensors"]) == info["general.parameter_count"]
    with pytest.raises(ModelNotFound, match="model 'nope:1b' not found"):
        client.show("nope:1b")


# --------------------------------------------------------------------------- /api/show parameters text


def test_parameters_text_is_go_formatted_padded_and_in_random_order(
    ollama_double: OllamaDouble, client: OllamaClient
) -> None:
    ollama_double.install("llama3.2:3b")
    params = {
        "temperature": 0.7,
        "num_ctx": 1048576,
        "stop": ["a", 'say "hi"\n'],
        "use_mmap": False,
        "seed": 42,
    }
    create(client, model="p", **{"from": "llama3.2:3b"}, parameters=params)
    seen = set()
    for _ in range(30):
        text = client.show("p")["parameters"]
        lines = text.split("\n")
        seen.add(tuple(lines))
        assert sorted(lines) == sorted(
            [
                "temperature                    0.7",
                "num_ctx                        1.048576e+06",
                'stop                           "a"',
                'stop                           "say \\"hi\\"\\n"',
                "use_mmap                       false",
                "seed                           42",
            ]
        )
    assert len(seen) > 1  # random order, like Go map iteration
    ollama_double.state.shuffle_parameters = False
    mf = client.show("p")["modelfile"]
    assert mf.startswith('# Modelfile generated by "ollama show"\n')
    assert "# FROM p:latest\n\nFROM /root/.ollama/models/blobs/sha256-" in mf
    assert "PARAMETER num_ctx 1.048576e+06\n" in mf and "PARAMETER use_mmap false\n" in mf
    assert 'PARAMETER stop """say "hi"\n"""\n' in mf  # quote(): line feed and a quote -> triple quotes


# --------------------------------------------------------------------------- create: from-merge semantics


def test_create_from_merges_like_ollama(ollama_double: OllamaDouble, client: OllamaClient, http: httpx.Client) -> None:
    ollama_double.state.version = "0.14.0"  # the first release that stores REQUIRES
    ollama_double.install("llama3.2:3b")
    base = ollama_double.state.get("llama3.2:3b")
    create(
        client,
        model="chef",
        **{"from": "llama3.2:3b"},
        system="You are a chef.",
        parameters={"temperature": 1.1},
        messages=[{"role": "User", "content": "hi"}],
        license="MIT",
    )
    chef = client.show("chef")
    params = {line.split()[0] for line in chef["parameters"].split("\n")}
    assert params == {"temperature", "stop"}  # the base's stop is inherited: keys merge
    assert chef["system"] == "You are a chef." and chef["template"] == base.template
    assert chef["messages"] == [{"role": "user", "content": "hi"}]  # roles lower-cased
    assert chef["license"] == "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT\nMIT"  # appended
    assert chef["details"]["parent_model"] == "llama3.2:3b"

    # empty system/template keep the inherited ones; empty messages keep them; a list replaces
    create(
        client,
        model="chef2",
        **{"from": "chef"},
        system="",
        template="",
        messages=[],
        parameters={"stop": ["###"], "top_k": 5},
        license=["X", "Y"],
        requires="0.14.0",
    )
    c2 = ollama_double.state.get("chef2")
    assert c2.system == "You are a chef." and c2.template == base.template
    assert c2.messages == [{"role": "user", "content": "hi"}]
    assert c2.parameters == {"stop": ["###"], "temperature": 1.1, "top_k": 5}
    assert c2.license == ["LLAMA 3.2 COMMUNITY LICENSE AGREEMENT", "MIT", "X", "Y"]
    s2 = client.show("chef2")
    assert s2["requires"] == "0.14.0" and s2["details"]["parent_model"] == "chef:latest"
    # a new template replaces; a bad one is a template error, sent in the stream with status 400
    create(client, model="chef3", **{"from": "chef"}, template="{{ .Prompt }}!")
    assert ollama_double.state.get("chef3").template == "{{ .Prompt }}!"
    with pytest.raises(ServerError, match="template error"):
        create(client, model="chef4", **{"from": "chef"}, template="{{ .Prompt ")
    r = http.post("/api/create", json={"model": "chef4", "from": "chef", "template": "{{ .Prompt "})
    assert r.status_code == 200 and json.loads(r.text.splitlines()[-1]) == {
        "error": "template error: template: :1: unclosed action",
        "status": 400,
    }


def test_create_statuses_and_stream_false(ollama_double: OllamaDouble, client: OllamaClient) -> None:
    ollama_double.install("llama3.2:3b")
    events = create(client, model="a", **{"from": "llama3.2:3b"}, system="s", parameters={"top_k": 1})
    st = statuses(events)
    assert st[0].startswith("using existing layer sha256:")
    assert [s.split(" sha256:")[0] for s in st[1:3]] == ["creating new layer"] * 2
    assert st[-2:] == ["writing manifest", "success"]
    assert create(client, model="b", **{"from": "llama3.2:3b"}, stream=False) == [{"status": "success"}]


def test_create_pulls_missing_base_and_says_success_twice(ollama_double: OllamaDouble, client: OllamaClient) -> None:
    events = create(client, model="chef", **{"from": "llama3.2:3b"}, system="x")
    st = statuses(events)
    assert st[0] == "pulling manifest" and st.count("success") == 2 and st[-1] == "success"
    pulls = [e for e in events if e["status"].startswith("pulling ") and "digest" in e]
    assert pulls and all({"digest", "total", "completed"} <= set(e) for e in pulls)
    assert pulls[0]["status"] == f"pulling {pulls[0]['digest'][7:19]}"
    assert ollama_double.state.get("llama3.2:3b") is not None and ollama_double.state.get("chef") is not None


def test_create_from_unknown_model_fails_in_stream(ollama_double: OllamaDouble, http: httpx.Client) -> None:
    r = http.post("/api/create", json={"model": "x", "from": "nope:1b"})
    assert r.status_code == 200
    lines = [json.loads(line) for line in r.text.splitlines()]
    # server/create.go sends the pull's error and goes on: a model without weights is written
    assert lines == [
        {"status": "pulling manifest"},
        {"error": "pull model manifest: file does not exist"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]
    orphan = http.get("/api/tags").json()["models"][0]
    assert orphan["name"] == "x:latest" and orphan["details"]["families"] is None
    assert http.post("/api/show", json={"model": "x"}).status_code == 404
    r = http.post("/api/generate", json={"model": "x", "prompt": "hi"})
    assert (r.status_code, r.json()) == (400, {"error": '"x" does not support generate'})
    # without a stream the first error is the answer, and nothing is written
    r = http.post("/api/create", json={"model": "y", "from": "nope:1b", "stream": False})
    assert (r.status_code, r.json()) == (500, {"error": "pull model manifest: file does not exist"})
    assert ollama_double.state.get("y") is None


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({}, 400, "missing request body"),
        ({"model": "bad name!", "from": "llama3.2:3b"}, 400, "invalid model name"),
        ({"model": "x", "files": {"./a.gguf": "sha256:" + "0" * 64}}, 400, "file path must be relative"),
        ({"model": "x", "files": {"a.gguf": ""}}, 400, "invalid digest format"),
        ({"model": "x", "adapters": {"a.gguf": ""}, "from": "llama3.2:3b"}, 400, "invalid digest format"),
        (
            {"model": "x", "from": "llama3.2:3b", "parameters": "num_ctx 8192"},
            400,
            "json: cannot unmarshal string into Go struct field CreateRequest.parameters of type "
            "map[string]interface {}",
        ),
    ],
)
def test_create_errors_before_streaming(http: httpx.Client, body: dict[str, Any], status: int, error: str) -> None:
    r = http.post("/api/create", content=json.dumps(body) if body else b"")
    assert (r.status_code, r.json()) == (status, {"error": error})


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"model": "x"}, "neither 'from' or 'files' was specified"),
        ({"model": "x", "from": "/abs/base.gguf"}, "invalid model name"),
    ],
)
def test_create_errors_in_the_stream(http: httpx.Client, body: dict[str, Any], error: str) -> None:
    """Errors of the create goroutine are lines of a 200 stream, with the status 400 as a field;
    without a stream that status is the answer's (server/create.go, waitForStream)."""
    r = http.post("/api/create", json=body)
    assert r.status_code == 200 and [json.loads(x) for x in r.text.splitlines()] == [{"error": error, "status": 400}]
    r = http.post("/api/create", json={**body, "stream": False})
    assert (r.status_code, r.json()) == (400, {"error": error})


def test_create_from_files_checks_blobs(ollama_double: OllamaDouble, http: httpx.Client, tmp_path: Path) -> None:
    missing = "sha256:" + "1" * 64
    r = http.post("/api/create", json={"model": "x", "files": {"a.gguf": missing}})
    assert r.status_code == 200
    assert r.text.splitlines() == [
        '{"status": "parsing GGUF"}',
        json.dumps({"error": f"open /root/.ollama/models/blobs/sha256-{'1' * 64}: no such file or directory"}),
    ]
    not_gguf = ollama_double.state.add_blob(b"hello, not a model")
    r = http.post("/api/create", json={"model": "x", "files": {"a.gguf": not_gguf}})
    assert r.text.splitlines()[-1] == '{"error": "supplied file was not in GGUF format", "status": 400}'
    # `from` wins over `files` (files still validated)
    ollama_double.install("llama3.2:3b")
    r = http.post("/api/create", json={"model": "y", "from": "llama3.2:3b", "files": {"a.gguf": missing}})
    assert r.text.splitlines()[-1] == '{"status": "success"}'


def test_create_from_gguf_reads_metadata(ollama_double: OllamaDouble, client: OllamaClient, tmp_path: Path) -> None:
    ollama_double.state.version = "0.30.0"  # user GGUFs validated and copied (parent_model "")
    path = tiny_gguf(tmp_path / "tiny.gguf", context_length=2048)
    digest = upload(client, path)
    events = create(client, model="tiny", files={"tiny.gguf": digest}, parameters={"num_ctx": 8192})
    assert statuses(events)[:2] == ["parsing GGUF", "validating GGUF model"]
    s = client.show("tiny")
    info = s["model_info"]
    assert info["general.architecture"] == "llama" and info["llama.context_length"] == 2048
    assert "general.name" not in info and "tokenizer.chat_template" not in info
    assert info["general.parameter_count"] == sum(math.prod(t["shape"]) for t in s["tensors"])
    assert s["details"]["format"] == "gguf" and s["details"]["family"] == "llama"
    assert s["details"]["quantization_level"] == "F16"
    assert s["details"]["parent_model"] == ""  # v0.30+ rewrites user GGUFs
    assert s["tensors"][0].keys() == {"name", "type", "shape"}


def test_quantize(ollama_double: OllamaDouble, client: OllamaClient, tmp_path: Path) -> None:
    digest = upload(client, tiny_gguf(tmp_path / "tiny.gguf"))
    events = create(client, model="q", files={"tiny.gguf": digest}, quantize="q4_K_M")
    assert "quantizing F16 model to Q4_K_M" in statuses(events)
    assert client.show("q")["details"]["quantization_level"] == "Q4_K_M"
    create(client, model="q4k", files={"tiny.gguf": digest}, quantize="Q4_K")  # alias of Q4_K_M
    assert client.show("q4k")["details"]["quantization_level"] == "Q4_K_M"
    with pytest.raises(ServerError, match="unsupported quantization type Q5_0 - supported types are"):
        create(client, model="q5", files={"tiny.gguf": digest}, quantize="q5_0")
    ollama_double.install("llama3.2:3b")
    with pytest.raises(ServerError, match="quantization is only supported for F16 and F32 models"):
        create(client, model="qq", **{"from": "llama3.2:3b"}, quantize="q8_0")
    ollama_double.state.version = "0.30.0"  # BF16 sources from 0.30.0
    with pytest.raises(ServerError, match="quantization is only supported for F16, BF16 and F32 models") as ei:
        create(client, model="qq", **{"from": "llama3.2:3b"}, quantize="q8_0")
    assert ei.value.status == 200  # in the stream: createModel runs in the handler's goroutine
    create(client, model="f16", **{"from": "smollm2:135m-instruct-fp16"}, quantize="q8_0")
    assert client.show("f16")["details"]["quantization_level"] == "Q8_0"


# --------------------------------------------------------------------------- blobs


def test_blob_digest_checks(ollama_double: OllamaDouble, http: httpx.Client) -> None:
    data = b"GGUF blob bytes"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert http.head("/api/blobs/sha256:xyz").status_code == 400
    r = http.post("/api/blobs/sha256-abc", content=data)
    assert (r.status_code, r.json()) == (400, {"error": "invalid digest format"})
    assert http.head(f"/api/blobs/{digest}").status_code == 404
    wrong = "sha256:" + "f" * 64
    r = http.post(f"/api/blobs/{wrong}", content=data)
    assert (r.status_code, r.json()["error"]) == (400, f'digest mismatch, expected "{wrong}", got "{digest}"')
    upper = "sha256:" + digest[7:].upper()
    assert http.post(f"/api/blobs/{upper}", content=data).status_code == 400  # computed digest is lowercase
    assert http.post(f"/api/blobs/{digest}", content=data).status_code == 201
    assert http.head(f"/api/blobs/{digest}").status_code == 200
    assert http.post(f"/api/blobs/{digest}", content=data).status_code == 200
    assert http.head(f"/api/blobs/{'sha256-' + digest[7:]}").status_code == 200


def test_upload_through_client(ollama_double: OllamaDouble, client: OllamaClient, tmp_path: Path) -> None:
    p = tmp_path / "w.bin"
    p.write_bytes(b"x" * (3 << 20))
    digest = sha256_file(p)
    assert client.blob_exists(digest) is False
    client.upload_blob(p, digest)
    assert client.blob_exists(digest) is True
    with pytest.raises(ServerError, match="digest mismatch") as ei:
        client.upload_blob(p, "sha256:" + "e" * 64)
    assert ei.value.status == 400


# --------------------------------------------------------------------------- pull, delete, copy


def test_pull_delete_copy(ollama_double: OllamaDouble, client: OllamaClient, http: httpx.Client) -> None:
    st = statuses(list(client.pull("llama3.2:1b")))
    assert st[0] == "pulling manifest" and st[-3:] == [
        "verifying sha256 digest",
        "writing manifest",
        "success",
    ]
    with pytest.raises(ServerError, match="pull model manifest: file does not exist"):
        list(client.pull("nope:1b"))
    client.copy("llama3.2:1b", "mine")
    assert ollama_double.state.get("mine:latest") is not None
    r = http.post("/api/copy", json={"source": "nope", "destination": "x"})
    assert (r.status_code, r.json()) == (404, {"error": 'model "nope" not found'})
    r = http.post("/api/copy", json={"source": "mine", "destination": "bad name"})
    assert (r.status_code, r.json()) == (400, {"error": 'destination "bad name" is invalid'})
    r = http.request("DELETE", "/api/delete", json={"model": "mine"})
    assert (r.status_code, r.content) == (200, b"")
    r = http.request("DELETE", "/api/delete", json={"model": "mine"})
    assert (r.status_code, r.json()) == (404, {"error": "model 'mine' not found"})
    r = http.request("DELETE", "/api/delete", json={"model": "bad name"})
    assert (r.status_code, r.json()) == (400, {"error": 'name "bad name" is invalid'})


# --------------------------------------------------------------------------- runners, ps, load/unload


def gen(client: OllamaClient, model: str, prompt: str = "hi", **kw: Any) -> list[dict[str, Any]]:
    return list(client.generate({"model": model, "prompt": prompt, **kw}))


def test_load_unload_and_ps(ollama_double: OllamaDouble, client: OllamaClient, http: httpx.Client) -> None:
    ollama_double.install("llama3.2:3b")
    assert client.ps() == {"models": []}
    out = gen(client, "llama3.2:3b", "")
    assert len(out) == 1 and out[0]["done"] is True and out[0]["done_reason"] == "load" and out[0]["response"] == ""
    ps = client.ps()["models"]
    assert len(ps) == 1
    m = ps[0]
    assert m["name"] == "llama3.2:3b" and m["context_length"] == 4096  # the server default
    assert m["size"] > ollama_double.state.get("llama3.2:3b").size and m["size_vram"] == m["size"]
    assert {"digest", "details", "expires_at"} <= set(m)
    out = gen(client, "llama3.2:3b", "", keep_alive=0)
    assert out[0]["done_reason"] == "unload" and client.ps() == {"models": []}
    chat = list(client.chat({"model": "llama3.2:3b", "messages": []}))
    assert chat[0]["message"] == {"role": "assistant", "content": ""} and chat[0]["done_reason"] == "load"
    ollama_double.state.vram_fraction = 0.5
    gen(client, "llama3.2:3b", "", options={"num_ctx": 2048})
    m = client.ps()["models"][0]
    assert m["size_vram"] == m["size"] // 2 and m["context_length"] == 2048
    r = http.post("/api/generate", json={"model": "llama3.2:3b", "prompt": "", "keep_alive": "300"})
    assert (r.status_code, r.json()) == (400, {"error": 'time: missing unit in duration "300"'})
    r = http.post("/api/generate", json={"model": "llama3.2:3b", "prompt": "", "keep_alive": -1})
    assert r.status_code == 200 and client.ps()["models"][0]["expires_at"] > "2200"
    r = http.post("/api/generate", json={"model": "llama3.2:3b", "prompt": "", "keep_alive": "10m"})
    assert r.status_code == 200


def test_context_clamp_and_reloads(ollama_double: OllamaDouble, client: OllamaClient, tmp_path: Path) -> None:
    digest = upload(client, tiny_gguf(tmp_path / "tiny.gguf", context_length=2048))
    create(client, model="tiny", files={"tiny.gguf": digest}, parameters={"num_ctx": 8192})
    st = ollama_double.state
    first = gen(client, "tiny", options={"seed": 1})[-1]
    assert client.ps()["models"][0]["context_length"] == 2048  # min(num_ctx 8192, trained 2048)
    assert st.load_count == 1 and first["load_duration"] >= st.load_ns
    again = gen(client, "tiny", options={"seed": 1, "temperature": 0.1})[-1]  # a sampling option: no reload
    assert st.load_count == 1 and 0 < again["load_duration"] < st.load_ns
    smaller = gen(client, "tiny", options={"num_ctx": 1024})[-1]  # a runner option: reload
    assert st.load_count == 2 and smaller["load_duration"] >= st.load_ns
    assert client.ps()["models"][0]["context_length"] == 1024
    gen(client, "tiny", options={"num_ctx": 1024, "num_thread": 2})
    assert st.load_count == 3 and st.loads == ["tiny:latest"] * 3
    st.default_num_ctx = 1000  # server default below the stored num_ctx: stored wins
    gen(client, "tiny", options={"num_ctx": 1024, "num_thread": 2})
    assert st.load_count == 3


def _loaded(events: list[dict[str, Any]], st: Any) -> bool:
    return bool(events[-1]["load_duration"] >= st.load_ns)


def test_models_on_the_same_weights_share_one_runner(ollama_double: OllamaDouble, client: OllamaClient) -> None:
    # server/sched.go keys loaded runners by the weights file (ModelPath), not by model name.
    ollama_double.install("llama3.2:3b")
    st = ollama_double.state
    base = {"from": "llama3.2:3b"}
    create(client, model="chef-a", **base, parameters={"num_ctx": 2048, "temperature": 1.1})
    create(client, model="chef-b", **base, parameters={"num_ctx": 2048, "temperature": 0.2}, system="Be brief.")
    create(client, model="chef-wide", **base, parameters={"num_ctx": 8192})
    a_digest = next(m["digest"] for m in client.tags()["models"] if m["name"] == "chef-a:latest")
    assert _loaded(gen(client, "chef-a", options={"seed": 1}), st) and st.loads == ["chef-a:latest"]
    # Same weights, same load-time options (sampling options and system do not count): no load.
    assert not _loaded(gen(client, "chef-b", options={"seed": 1}), st) and st.load_count == 1
    assert not _loaded(gen(client, "llama3.2:3b", options={"num_ctx": 2048}), st) and st.load_count == 1
    ps = client.ps()["models"]
    assert [(m["name"], m["digest"], m["context_length"]) for m in ps] == [("chef-a:latest", a_digest, 2048)]
    assert len(st.runners) == 1 and st.runner_of("chef-b") is st.runner_of("chef-a")
    # A different num_ctx on the same weights replaces the runner, and switching back reloads again.
    assert _loaded(gen(client, "chef-wide", options={"seed": 1}), st)
    ps = client.ps()["models"]
    assert [(m["name"], m["context_length"]) for m in ps] == [("chef-wide:latest", 8192)]
    assert _loaded(gen(client, "chef-b", options={"seed": 1}), st)
    assert _loaded(gen(client, "chef-wide", options={"seed": 1}), st)
    assert st.loads == ["chef-a:latest", "chef-wide:latest", "chef-b:latest", "chef-wide:latest"]
    # The default num_ctx of the plain base (4096) is yet another runner configuration.
    assert _loaded(gen(client, "llama3.2:3b"), st) and client.ps()["models"][0]["context_length"] == 4096
    # keep_alive 0 through any model on those weights unloads the shared runner (expireRunner).
    gen(client, "chef-a", "", keep_alive=0)
    assert client.ps() == {"models": []} and st.runners == {}
    # Other weights get their own runner next to it.
    ollama_double.install("qwen3:8b")
    gen(client, "chef-a", "")
    gen(client, "qwen3:8b", "")
    assert sorted(m["name"] for m in client.ps()["models"]) == ["chef-a:latest", "qwen3:8b"]


def test_shared_runner_outlives_its_model_and_its_rebuild(ollama_double: OllamaDouble, client: OllamaClient) -> None:
    ollama_double.install("llama3.2:3b")
    st = ollama_double.state
    create(client, model="one", **{"from": "llama3.2:3b"}, parameters={"num_ctx": 2048})
    create(client, model="two", **{"from": "llama3.2:3b"}, parameters={"num_ctx": 2048})
    gen(client, "one", "")
    old_digest = client.ps()["models"][0]["digest"]
    # Re-creating a model does not unload its runner; the next request checks the options.
    create(client, model="one", **{"from": "llama3.2:3b"}, parameters={"num_ctx": 2048}, system="new")
    assert client.ps()["models"][0]["digest"] == old_digest  # the model as it was when it loaded
    assert not _loaded(gen(client, "one"), st) and st.load_count == 1
    # Deleting the model that loaded the runner leaves the runner (and its /api/ps entry).
    client.delete("one")
    assert [m["name"] for m in client.ps()["models"]] == ["one:latest"]
    assert not _loaded(gen(client, "two"), st) and st.load_count == 1


def test_reload_rules_follow_needs_reload(ollama_double: OllamaDouble, client: OllamaClient, tmp_path: Path) -> None:
    st = ollama_double.state
    digest = upload(client, tiny_gguf(tmp_path / "tiny.gguf", context_length=2048))
    create(client, model="t4k", files={"tiny.gguf": digest}, parameters={"num_ctx": 4096})
    create(client, model="t8k", files={"tiny.gguf": digest}, parameters={"num_ctx": 8192})
    create(client, model="tauto", files={"tiny.gguf": digest})
    gen(client, "t4k", "")
    # num_ctx is compared after capping at the trained context: 4096 and 8192 both run 2048.
    assert not _loaded(gen(client, "t8k"), st) and st.load_count == 1
    # num_gpu: a request with -1 (let the server decide) takes the runner as it is ...
    assert _loaded(gen(client, "t4k", options={"num_gpu": 10}), st) and st.load_count == 2
    assert not _loaded(gen(client, "t4k", options={"num_gpu": -1}), st) and st.load_count == 2
    # ... any other value must match.
    assert _loaded(gen(client, "t4k", options={"num_gpu": 5}), st) and st.load_count == 3
    for opt, val in (("num_batch", 256), ("num_thread", 3), ("use_mmap", False), ("main_gpu", 1)):
        before = st.load_count
        assert _loaded(gen(client, "t4k", options={opt: val}), st) and st.load_count == before + 1, opt
    # Left to the server on both sides, num_ctx counts as equal even if the server default moved.
    gen(client, "tauto", "")
    n = st.load_count
    st.default_num_ctx = 1024
    assert not _loaded(gen(client, "tauto"), st) and st.load_count == n
    assert client.ps()["models"][0]["context_length"] == 2048  # min(4096 default then, trained 2048)
    # ... but not when the request names it.
    assert _loaded(gen(client, "tauto", options={"num_ctx": 1024}), st) and st.load_count == n + 1


def test_adapters_and_projectors_force_a_reload(
    ollama_double: OllamaDouble, client: OllamaClient, tmp_path: Path
) -> None:
    st = ollama_double.state
    weights = upload(client, tiny_gguf(tmp_path / "tiny.gguf"))
    adapter = upload(client, tiny_gguf(tmp_path / "lora.gguf", context_length=1024))
    create(client, model="plain", files={"tiny.gguf": weights})
    create(client, model="tuned", **{"from": "plain"}, adapters={"lora.gguf": adapter})
    assert st.get("tuned").runner_key == st.get("plain").runner_key  # same weights
    gen(client, "plain", "")
    assert _loaded(gen(client, "tuned"), st) and st.load_count == 2  # an adapter changes the runner
    assert _loaded(gen(client, "plain"), st) and st.load_count == 3
    assert len(st.runners) == 1

    from tests.fixtures_gguf import write_tiny_gguf

    proj_path = write_tiny_gguf(tmp_path / "mmproj.gguf", arch="clip", name="proj", extra_kv={"general.type": "mmproj"})
    proj = upload(client, proj_path)
    create(client, model="vision", files={"tiny.gguf": weights, "mmproj.gguf": proj})
    v = st.get("vision")
    assert v.weights_digest == weights and v.projectors == [proj]
    assert client.show("vision")["model_info"]["general.architecture"] == "llama"  # from the weights
    assert _loaded(gen(client, "vision"), st) and st.load_count == 4  # a projector changes the runner
    assert not _loaded(gen(client, "vision"), st)


def test_a_reload_waits_for_the_running_requests(ollama_double: OllamaDouble) -> None:
    import time

    ollama_double.install("llama3.2:3b")
    st = ollama_double.state
    st.faults.stall_after["/api/generate"] = (1, 0.5)  # each request holds its runner a while
    st.parallel = 4
    results: dict[str, list[dict[str, Any]]] = {}

    def one(tag: str, options: dict[str, Any]) -> None:
        with OllamaClient(ollama_double.url) as c:
            results[tag] = gen(c, "llama3.2:3b", options={"seed": 1, **options})

    first = threading.Thread(target=one, args=("small", {"num_ctx": 2048}))
    first.start()
    while not st.inflight.get("registry.ollama.ai/library/llama3.2:3b"):
        time.sleep(0.005)
    second = threading.Thread(target=one, args=("large", {"num_ctx": 8192}))
    second.start()
    while st.waiting < 1:  # queued behind the running request, not loaded over it
        time.sleep(0.005)
    assert st.load_count == 1 and st.runner_of("llama3.2:3b").context_length == 2048
    first.join()
    second.join()
    assert st.load_count == 2 and st.runner_of("llama3.2:3b").context_length == 8192
    assert results["small"][-1]["done"] and _loaded(results["large"], st)


def test_string_option_breaks_generation_with_500(ollama_double: OllamaDouble, http: httpx.Client) -> None:
    ollama_double.install("llama3.2:3b", as_name="broken")
    ollama_double.state.get("broken").parameters["num_ctx"] = "4096"  # stored as sent: never checked
    r = http.post("/api/generate", json={"model": "broken", "prompt": "hi"})
    assert (r.status_code, r.json()) == (500, {"error": 'option "num_ctx" must be of type integer'})
    r = http.post("/api/generate", json={"model": "nope", "prompt": "hi"})
    assert (r.status_code, r.json()) == (404, {"error": "model 'nope' not found"})
    ollama_double.install("nomic-embed-text")
    r = http.post("/api/generate", json={"model": "nomic-embed-text", "prompt": "hi"})
    assert (r.status_code, r.json()) == (400, {"error": '"nomic-embed-text" does not support generate'})
    r = http.post("/api/generate", json={"model": "broken", "prompt": "hi", "top_logprobs": 21})
    assert (r.status_code, r.json()) == (400, {"error": "top_logprobs must be between 0 and 20"})


# --------------------------------------------------------------------------- deterministic generation


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e.get("response", "") or e.get("message", {}).get("content", "") for e in events)


def test_generation_is_deterministic_with_a_seed(ollama_double: OllamaDouble, client: OllamaClient) -> None:
    ollama_double.install("llama3.2:3b")
    a = gen(client, "llama3.2:3b", "Tell me", options={"seed": 7})
    b = gen(client, "llama3.2:3b", "Tell me", options={"seed": 7})
    assert text_of(a) == text_of(b) and len(a) > 3  # several chunks
    assert text_of(gen(client, "llama3.2:3b", "Tell me", options={"seed": 8})) != text_of(a)
    assert text_of(gen(client, "llama3.2:3b", "Tell me", options={"seed": 7, "temperature": 0.1})) != text_of(a)
    assert text_of(gen(client, "llama3.2:3b", "Tell me", system="Be odd.", options={"seed": 7})) != text_of(a)
    unseeded = {text_of(gen(client, "llama3.2:3b", "Tell me")) for _ in range(3)}
    assert len(unseeded) == 3  # seed absent = random
    assert len({text_of(gen(client, "llama3.2:3b", "Tell me", options={"seed": -1})) for _ in range(3)}) == 3
    ollama_double.state.nondeterministic = True
    assert len({text_of(gen(client, "llama3.2:3b", "Tell me", options={"seed": 7})) for _ in range(3)}) == 3
    final = a[-1]
    assert final["done"] is True and final["done_reason"] == "stop" and final["eval_count"] == len(a) - 1
    for k in (
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_duration",
    ):
        assert isinstance(final[k], int) and final[k] > 0, k
    assert final["total_duration"] >= final["load_duration"] + final["prompt_eval_duration"] + final["eval_duration"]
    assert final["created_at"].endswith("Z") and isinstance(final["context"], list)


def test_num_predict_stop_and_stream_false(ollama_double: OllamaDouble, client: OllamaClient) -> None:
    ollama_double.install("llama3.2:3b")
    full = gen(client, "llama3.2:3b", "x", options={"seed": 3})
    text = text_of(full)
    cut = gen(client, "llama3.2:3b", "x", options={"seed": 3, "num_predict": 3})
    assert cut[-1]["done_reason"] == "length" and cut[-1]["eval_count"] == 3 and text.startswith(text_of(cut))
    word = text.split()[4].strip(".")
    stopped = gen(client, "llama3.2:3b", "x", options={"seed": 3, "stop": [" " + word]})
    assert stopped[-1]["done_reason"] == "stop" and text_of(stopped) == text[: text.index(" " + word)]
    one = gen(client, "llama3.2:3b", "x", options={"seed": 3}, stream=False)
    assert len(one) == 1 and one[0]["response"] == text and one[0]["done"] is True


def test_chat_uses_model_messages_and_system(ollama_double: OllamaDouble, client: OllamaClient) -> None:
    ollama_double.install("llama3.2:3b")
    create(client, model="chef", **{"from": "llama3.2:3b"}, system="You are a chef.")
    msgs = [{"role": "user", "content": "dessert?"}]
    a = list(client.chat({"model": "chef", "messages": msgs, "options": {"seed": 1}}))
    b = list(client.chat({"model": "llama3.2:3b", "messages": msgs, "options": {"seed": 1}}))
    assert text_of(a) and text_of(a) != text_of(b)  # the model's system prompt is part of the input
    assert a[0]["message"]["role"] == "assistant" and a[-1]["done"] is True


def test_parallel_limit_queues_requests(ollama_double: OllamaDouble) -> None:
    ollama_double.install("llama3.2:3b")
    st = ollama_double.state
    st.token_delay = 0.01

    def run_all(n: int) -> None:
        def one() -> None:
            with OllamaClient(ollama_double.url) as c:
                gen(c, "llama3.2:3b", options={"seed": 1, "num_predict": 5})

        threads = [threading.Thread(target=one) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    run_all(4)
    assert st.max_inflight["registry.ollama.ai/library/llama3.2:3b"] == 1
    st.max_inflight.clear()
    st.parallel = 2
    run_all(6)
    assert st.max_inflight["registry.ollama.ai/library/llama3.2:3b"] <= 2
    assert len(st.calls("/api/generate")) == 10


def test_queue_full_is_503(ollama_double: OllamaDouble, http: httpx.Client) -> None:
    import time

    ollama_double.install("llama3.2:3b")
    st = ollama_double.state
    st.max_queue = 1
    st.faults.stall_after["/api/generate"] = (1, 60.0)  # the first request holds the only slot
    body = {"model": "llama3.2:3b", "prompt": "x", "options": {"seed": 1}}

    def one() -> None:
        with httpx.Client(base_url=ollama_double.url, timeout=60) as c, contextlib.suppress(httpx.HTTPError):
            c.post("/api/generate", json=body)  # cut when the double stops

    first = threading.Thread(target=one)
    first.start()
    while not st.inflight.get("registry.ollama.ai/library/llama3.2:3b"):
        time.sleep(0.005)
    second = threading.Thread(target=one)
    second.start()
    while st.waiting < 1:
        time.sleep(0.005)
    r = http.post("/api/generate", json=body)
    assert (r.status_code, r.json()) == (
        503,
        {"error": "server busy, please try again.  maximum pending requests exceeded"},
    )
    ollama_double.stop()
    first.join()
    second.join()


# --------------------------------------------------------------------------- fault injection


def test_fault_fail_and_delay(ollama_double: OllamaDouble, client: OllamaClient) -> None:
    ollama_double.install("llama3.2:3b")
    ollama_double.state.faults.fail["/api/show"] = (500, "boom")
    with pytest.raises(ServerError, match="boom") as ei:
        client.show("llama3.2:3b")
    assert ei.value.status == 500
    ollama_double.state.faults.clear()
    ollama_double.state.faults.delay["/api/tags"] = 2.0
    with (
        OllamaClient(ollama_double.url, timeout=0.2) as slow,
        pytest.raises(ServerUnreachable, match="timed out"),
    ):
        slow.tags()


def test_fault_cut_and_malformed(ollama_double: OllamaDouble, client: OllamaClient) -> None:
    ollama_double.install("llama3.2:3b")
    ollama_double.state.faults.cut_after["/api/generate"] = 2
    got: list[dict[str, Any]] = []
    with pytest.raises(ServerError, match="closed before the answer was complete"):
        for e in client.generate({"model": "llama3.2:3b", "prompt": "x"}):
            got.append(e)
    assert len(got) == 2
    ollama_double.state.faults.clear()
    ollama_double.state.faults.malformed_at["/api/pull"] = 1
    with pytest.raises(ServerError, match="malformed NDJSON line"):
        list(client.pull("llama3.2:1b"))


def test_fault_stall_mid_stream(ollama_double: OllamaDouble) -> None:
    ollama_double.state.faults.stall_after["/api/pull"] = (2, 2.0)
    with (
        OllamaClient(ollama_double.url, timeout=0.2) as c,
        pytest.raises(ServerUnreachable, match="timed out"),
    ):
        list(c.pull("llama3.2:1b"))


def test_fault_create_error_in_stream(ollama_double: OllamaDouble, http: httpx.Client) -> None:
    ollama_double.install("llama3.2:3b")
    ollama_double.state.faults.create_error = "write /root/.ollama/models: no space left on device"
    r = http.post("/api/create", json={"model": "x", "from": "llama3.2:3b"})
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert r.status_code == 200 and len(lines) == 2 and "status" in lines[0]
    assert lines[1] == {"error": "write /root/.ollama/models: no space left on device"}


def test_connection_refused(ollama_double: OllamaDouble) -> None:
    url = ollama_double.url
    ollama_double.stop()
    with OllamaClient(url) as c, pytest.raises(ServerUnreachable) as ei:
        c.version()
    assert str(ei.value) == f'cannot reach Ollama at {url} — is "ollama serve" running?'
    with OllamaClient(closed_port_url()) as c, pytest.raises(ServerUnreachable):
        c.version()


def test_requests_are_recorded(ollama_double: OllamaDouble, client: OllamaClient) -> None:
    client.version()
    client.tags()
    assert [(r["method"], r["path"]) for r in ollama_double.state.requests] == [
        ("GET", "/api/version"),
        ("GET", "/api/tags"),
    ]
    assert ollama_double.state.requests[0]["headers"]["User-Agent"].startswith("modelctl/")


def test_run_by_hand() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ollama_double", "--port", "0", "--install", "llama3.2:3b"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" listening on ")[1].split()[0]
        with OllamaClient(url) as c:
            assert [m["name"] for m in c.tags()["models"]] == ["llama3.2:3b"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_every_switch_is_documented() -> None:
    import dataclasses

    from tests.ollama_double import DoubleState, Faults

    doc = (Path(__file__).resolve().parent.parent / "docs" / "server.md").read_text(encoding="utf-8")
    knobs = [
        "version",
        "default_num_ctx",
        "default_keep_alive",
        "parallel",
        "vram_fraction",
        "shuffle_parameters",
        "latency",
        "api_latency",
        "token_delay",
        "load_delay",
        "nondeterministic",
        "eval_ns_per_token",
        "prompt_ns_per_token",
        "load_ns",
        "max_queue",
    ]
    names = {f.name for f in dataclasses.fields(DoubleState)}
    assert set(knobs) <= names
    for k in knobs:
        assert f"`{k}" in doc, k
    for f in dataclasses.fields(Faults):
        assert f"faults.{f.name}" in doc, f.name


def test_upload_memory_is_independent_of_file_size(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    import tracemalloc

    p = tmp_path / "big.gguf"
    with open(p, "wb") as f:
        f.truncate(32 << 20)  # 32 MiB, sparse
    digest = "sha256:" + hashlib.sha256(b"\0" * (32 << 20)).hexdigest()
    with OllamaClient(ollama_double.url) as c:
        tracemalloc.start()
        c.upload_blob(p, digest)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert c.blob_exists(digest)
    assert peak < 8 << 20  # a few 1 MiB chunks (client and double together), not the file


def test_official_python_client_understands_the_double(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    """The official client's pydantic types parse every answer (a cheap check of shapes and types)."""
    with OllamaClient(ollama_double.url) as mc:
        oc = mc.official_client()
        assert [p.status for p in oc.pull("llama3.2:3b", stream=True)][-1] == "success"
        listed = oc.list().models
        assert [m.model for m in listed] == ["llama3.2:3b"] and listed[0].details.parameter_size == "3.2B"
        shown = oc.show("llama3.2:3b")
        assert shown.modelinfo["llama.context_length"] == 131072
        assert shown.details.quantization_level == "Q4_K_M"
        created = oc.create("chef", from_="llama3.2:3b", system="Be brief.", parameters={"temperature": 0.2})
        assert created.status == "success"
        out = oc.generate("chef", "hi", options={"seed": 1, "num_predict": 4})
        assert out.done and out.done_reason == "length" and out.eval_count == 4 and out.response
        chat = oc.chat("chef", messages=[{"role": "user", "content": "hi"}], options={"seed": 1})
        assert chat.message.role == "assistant" and chat.message.content
        running = oc.ps().models
        assert running[0].context_length == 4096 and running[0].size_vram == running[0].size
        p = tmp_path / "blob.bin"
        p.write_bytes(b"some bytes")
        assert oc.create_blob(p) == sha256_file(p) and mc.blob_exists(sha256_file(p))
        assert oc.copy("chef", "chef2").status == "success"
        assert oc.delete("chef2").status == "success"


def test_capabilities_follow_the_template(ollama_double: OllamaDouble, client: OllamaClient, tmp_path: Path) -> None:
    ollama_double.install("qwen3:8b")
    create(client, model="same", **{"from": "qwen3:8b"}, system="x")
    assert client.show("same")["capabilities"] == ["completion", "tools", "thinking"]  # inherited
    create(client, model="plain", **{"from": "qwen3:8b"}, template="{{ .Prompt }}")
    assert client.show("plain")["capabilities"] == ["completion"]
    digest = upload(client, tiny_gguf(tmp_path / "tiny.gguf"))
    create(
        client,
        model="t",
        files={"tiny.gguf": digest},
        template="{{ if .Tools }}{{ .Tools }}{{ end }}{{ .Prompt }}",
    )
    assert client.show("t")["capabilities"] == ["completion", "tools"]
    create(client, model="emb", **{"from": "nomic-embed-text"})
    assert client.show("emb")["capabilities"] == ["embedding"]


def test_servers_before_0_14_drop_requires(ollama_double: OllamaDouble, client: OllamaClient) -> None:
    ollama_double.install("llama3.2:3b")
    assert ollama_double.state.version == "0.12.6"
    create(client, model="old", **{"from": "llama3.2:3b"}, requires="0.14.0", renderer="r")
    shown = client.show("old")
    assert "requires" not in shown
    assert ollama_double.state.get("old").renderer == "r"  # RENDERER is stored from 0.12.0 on


# --------------------------------------------------------------------------- drift support


def test_draft_files_from_0_30(
    ollama_double: OllamaDouble, client: OllamaClient, http: httpx.Client, tmp_path: Path
) -> None:
    ollama_double.install("llama3.2:3b")
    draft = upload(client, tiny_gguf(tmp_path / "draft.gguf"))
    create(client, model="old", **{"from": "llama3.2:3b"}, draft_files={"d.gguf": draft})
    assert ollama_double.state.get("old").drafts == []  # 0.12.6 does not know the field
    ollama_double.state.version = "0.30.0"
    r = http.post("/api/create", json={"model": "x", "from": "llama3.2:3b", "draft_quantize": "q8_0"})
    assert (r.status_code, r.json()) == (400, {"error": "--draft-quantize requires a DRAFT model"})
    r = http.post("/api/create", json={"model": "x", "from": "llama3.2:3b", "draft_files": {"./d.gguf": draft}})
    assert (r.status_code, r.json()) == (400, {"error": "file path must be relative"})
    create(client, model="new", **{"from": "llama3.2:3b"}, draft_files={"d.gguf": draft})
    shown = client.show("new")["modelfile"]
    assert f"DRAFT /root/.ollama/models/blobs/{draft.replace(':', '-')}" in shown
    create(client, model="q", **{"from": "llama3.2:3b"}, draft_files={"d.gguf": draft}, draft_quantize="q8_0")
    quantized = ollama_double.state.get("q").drafts[-1]
    assert quantized != draft
    assert f"DRAFT /root/.ollama/models/blobs/{quantized.replace(':', '-')}" in client.show("q")["modelfile"]


def test_projector_renderer_parser_and_inheritance(
    ollama_double: OllamaDouble, client: OllamaClient, tmp_path: Path
) -> None:
    from tests.fixtures_gguf import write_tiny_gguf

    weights = upload(client, tiny_gguf(tmp_path / "w.gguf"))
    proj = upload(client, write_tiny_gguf(tmp_path / "mmproj.gguf", arch="clip", extra_kv={"general.type": "mmproj"}))
    create(client, model="vision", files={"w.gguf": weights, "mmproj.gguf": proj}, renderer="r1", parser="p1")
    s = client.show("vision")
    lines = s["modelfile"].splitlines()
    assert lines[2] == "# FROM vision:latest"
    assert [ln for ln in lines if ln.startswith("FROM ")] == [
        f"FROM /root/.ollama/models/blobs/{weights.replace(':', '-')}",
        f"FROM /root/.ollama/models/blobs/{proj.replace(':', '-')}",
    ]
    assert "RENDERER r1" in lines and "PARSER p1" in lines
    assert "renderer" not in s and "parser" not in s  # Ollama leaves the fields empty
    create(client, model="child", **{"from": "vision"}, parser="p2")
    child = ollama_double.state.get("child")
    assert (child.renderer, child.parser, child.projectors) == ("r1", "p2", [proj])


def test_params_layer_digest_follows_the_values(ollama_double: OllamaDouble, client: OllamaClient) -> None:
    ollama_double.install("llama3.2:3b")
    a = create(client, model="a", **{"from": "llama3.2:3b"}, parameters={"temperature": 0.1})
    b = create(client, model="b", **{"from": "llama3.2:3b"}, parameters={"temperature": 0.2})
    new_a = [e["status"] for e in a if e["status"].startswith("creating new layer")]
    new_b = [e["status"] for e in b if e["status"].startswith("creating new layer")]
    assert new_a and new_b and new_a != new_b


def test_api_latency_and_repull(ollama_double: OllamaDouble, client: OllamaClient) -> None:
    import time

    ollama_double.install("llama3.2:3b")
    old = ollama_double.state.get("llama3.2:3b")
    ollama_double.state.repull("llama3.2:3b")
    after = ollama_double.state.get("llama3.2:3b")
    assert after.digest != old.digest and after.weights_digest != old.weights_digest
    assert after.weights_digest == ollama_double.state.registry[after.name.key].weights_digest  # a pull gets it too
    ollama_double.state.api_latency = 0.05
    t = time.perf_counter()
    client.version()
    assert time.perf_counter() - t >= 0.05
