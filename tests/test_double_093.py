"""The double set to Ollama 0.9.3 answers as a real 0.9.3 server did.

Each expectation here was seen on the real server (tests/test_conformance.py compares the two
live); newer versions keep their own answers behind the double's version switch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures_gguf import write_tiny_llama
from tests.ollama_double import OllamaDouble


@pytest.fixture
def old(ollama_double: OllamaDouble) -> OllamaDouble:
    ollama_double.state.version = "0.9.3"
    ollama_double.state.vram_fraction = 0.0  # a CPU-only host
    return ollama_double


@pytest.fixture
def http(ollama_double: OllamaDouble) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ollama_double.url, timeout=10) as c:
        yield c


@pytest.fixture
def digest(old: OllamaDouble, http: httpx.Client, tmp_path: Path) -> str:
    data = write_tiny_llama(tmp_path / "tiny.gguf", context_length=2048).read_bytes()
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    assert http.post(f"/api/blobs/{d}", content=data).status_code == 201
    return d


def lines(r: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(x) for x in r.text.splitlines() if x.strip()]


def kinds(r: httpx.Response) -> list[str]:
    """Create statuses without digests."""
    return [x.get("status", "").split(" sha256:")[0] or "error: " + x["error"] for x in lines(r)]


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        ("/api/show", "{bad", "invalid character 'b' looking for beginning of object key string"),
        ("/api/show", '{"model": "x"', "unexpected EOF"),
        ("/api/show", "not json", "invalid character 'o' in literal null (expecting 'u')"),
        ("/api/show", "nul", "unexpected EOF"),
        ("/api/show", "1e", "unexpected EOF"),
        ("/api/show", "   ", "missing request body"),
        ("/api/show", '{"model": }', "invalid character '}' looking for beginning of value"),
        ("/api/show", '{"model":"x",}', "invalid character '}' looking for beginning of object key string"),
        ("/api/show", "{'a':1}", "invalid character '\\'' looking for beginning of object key string"),
        ("/api/show", '{"model":"\\x"}', "invalid character 'x' in string escape code"),
        ("/api/show", '{"a" 1}', "invalid character '1' after object key"),
        ("/api/show", '{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
        ("/api/show", "[1 2]", "invalid character '2' after array element"),
        ("/api/show", "[1, 2]", "json: cannot unmarshal array into Go value of type api.ShowRequest"),
        ("/api/show", "true", "json: cannot unmarshal bool into Go value of type api.ShowRequest"),
        ("/api/show", '{"model":5}',
         "json: cannot unmarshal number into Go struct field ShowRequest.model of type string"),
        ("/api/show", '{"model":"x","verbose":"yes"}',
         "json: cannot unmarshal string into Go struct field ShowRequest.verbose of type bool"),
        ("/api/show", '{"model":"x","options":[]}',
         "json: cannot unmarshal array into Go struct field ShowRequest.options of type map[string]interface {}"),
        ("/api/chat", '{"model":"x","messages":[{"role":5}]}',
         "json: cannot unmarshal number into Go struct field ChatRequest.messages.role of type string"),
        ("/api/chat", '{"model":"x","messages":"hi"}',
         "json: cannot unmarshal string into Go struct field ChatRequest.messages of type []api.Message"),
        ("/api/chat", '{"model":"x","stream":"no"}',
         "json: cannot unmarshal string into Go struct field ChatRequest.stream of type bool"),
        ("/api/chat", '{"model":"x","keep_alive":"bogus"}', 'time: invalid duration "bogus"'),
        ("/api/chat", '{"model":"x","keep_alive":true}', "Unsupported type: 'bool'"),
        ("/api/chat", '{"model":"x","keep_alive":[1]}', "Unsupported type: '[]interface {}'"),
        ("/api/copy", "[]", "json: cannot unmarshal array into Go value of type api.CopyRequest"),
        ("/api/create", '{"model":"x","parameters":"oops"}',
         "json: cannot unmarshal string into Go struct field CreateRequest.parameters of type map[string]interface {}"),
    ],
)  # fmt: skip
def test_bodies_are_read_as_go_reads_them(
    old: OllamaDouble, http: httpx.Client, path: str, body: str, error: str
) -> None:
    r = http.post(path, content=body.encode())
    assert (r.status_code, r.json()) == (400, {"error": error})


def test_the_decoder_reads_the_first_value_only(old: OllamaDouble, http: httpx.Client) -> None:
    r = http.post("/api/show", content=b'{"model":"nope"}} trailing')
    assert (r.status_code, r.json()) == (404, {"error": "model 'nope' not found"})


def test_tags_and_ps_fields_at_0_9_3(old: OllamaDouble, http: httpx.Client, digest: str) -> None:
    http.post("/api/create", json={"model": "tiny", "files": {"tiny.gguf": digest}, "stream": False})
    tag = http.get("/api/tags").json()["models"][0]
    assert set(tag) == {"name", "model", "modified_at", "size", "digest", "details"}
    assert set(tag["details"]) == {
        "parent_model",
        "format",
        "family",
        "families",
        "parameter_size",
        "quantization_level",
    }
    assert tag["details"]["parent_model"] == ""
    assert http.post("/api/generate", json={"model": "tiny"}).json()["done_reason"] == "load"
    ps = http.get("/api/ps").json()["models"][0]
    assert set(ps) == {"name", "model", "size", "digest", "details", "expires_at", "size_vram"}
    assert ps["size_vram"] == 0 and ps["size"] > 0  # a CPU-only host
    old.state.version = "0.10.0"  # context_length from 0.10.0
    assert http.get("/api/ps").json()["models"][0]["context_length"] == 2048
    old.state.vram_fraction = 1.0  # a host whose GPU takes it all (at the next load)
    http.post("/api/generate", json={"model": "tiny", "keep_alive": 0})
    http.post("/api/generate", json={"model": "tiny"})
    ps = http.get("/api/ps").json()["models"][0]
    assert ps["size_vram"] == ps["size"]


def test_show_at_0_9_3(old: OllamaDouble, http: httpx.Client, digest: str) -> None:
    http.post("/api/create", json={"model": "tiny", "files": {"tiny.gguf": digest}, "stream": False})
    s = http.post("/api/show", json={"model": "tiny"}).json()
    # the weights layer's From: the blob's path
    assert s["details"]["parent_model"] == f"/root/.ollama/models/blobs/{digest.replace(':', '-')}"
    info = s["model_info"]
    assert info["tokenizer.ggml.tokens"] is None and info["tokenizer.ggml.scores"] is None  # unread arrays
    # float32 values as Go writes them
    assert info["llama.attention.layer_norm_rms_epsilon"] == 1e-05 and isinstance(info["llama.rope.freq_base"], int)
    verbose = http.post("/api/show", json={"model": "tiny", "verbose": True}).json()["model_info"]
    assert len(verbose["tokenizer.ggml.tokens"]) == 260
    r = http.post("/api/show", json={"model": "bad name!"})
    assert (r.status_code, r.json()) == (500, {"error": "invalid model path"})
    old.state.version = "0.15.0"
    assert http.post("/api/show", json={"model": "bad name!"}).status_code == 400


def test_create_statuses_name_every_layer(old: OllamaDouble, http: httpx.Client, digest: str) -> None:
    """One status per layer of the new manifest, in its order (server/create.go createModel):
    reused layers and blobs already there are "using existing layer"."""
    body = {"model": "a", "files": {"tiny.gguf": digest}, "template": "{{ .Prompt }}", "system": "s",
            "parameters": {"top_k": 1}, "messages": [{"role": "user", "content": "hi"}], "license": "MIT"}  # fmt: skip
    created = ["parsing GGUF", "using existing layer"] + ["creating new layer"] * 5 + ["writing manifest", "success"]
    assert kinds(http.post("/api/create", json=body)) == created
    again = ["parsing GGUF"] + ["using existing layer"] * 6 + ["writing manifest", "success"]
    assert kinds(http.post("/api/create", json={**body, "model": "b"})) == again
    # from a model: its five layers are reused; new parameters replace its params layer, last
    r = http.post("/api/create", json={"model": "c", "from": "a", "parameters": {"top_k": 2}})
    assert kinds(r) == ["using existing layer"] * 5 + ["creating new layer", "writing manifest", "success"]
    assert lines(r)[4]["status"].split()[-1] != lines(r)[5]["status"].split()[-1]
    assert old.state.get("c").parameters == {"top_k": 2}
    # a model from a model, nothing new: every layer reused
    assert kinds(http.post("/api/create", json={"model": "d", "from": "a"})) == ["using existing layer"] * 6 + [
        "writing manifest",
        "success",
    ]
    assert old.state.get("d").details["parent_model"] == "a:latest"


def test_create_file_names_and_adapter_errors(old: OllamaDouble, http: httpx.Client, digest: str) -> None:
    # a file not named .gguf is still a GGUF when its blob is one
    r = http.post("/api/create", json={"model": "a", "files": {"a.bin": digest}})
    assert kinds(r)[-1] == "success"
    r = http.post("/api/create", json={"model": "b", "files": {"a.bin": "sha256:" + "0" * 64}})
    assert lines(r) == [{"error": "unknown type", "status": 400}]
    r = http.post("/api/create", json={"model": "c", "from": "a", "adapters": {"x.gguf": "sha256:" + "0" * 64}})
    assert lines(r)[-1]["status"] == 400 and lines(r)[-1]["error"].startswith("open ")


def test_chat_and_blob_answers_at_0_9_3(old: OllamaDouble, http: httpx.Client) -> None:
    msgs = [{"role": "user", "content": "hi"}]
    r = http.post("/api/chat", json={"model": "nope", "messages": msgs})
    assert (r.status_code, r.json()) == (404, {"error": 'model "nope" not found, try pulling it first'})
    r = http.post("/api/chat", json={"model": "nope", "keep_alive": 0})  # an unload looks the model up first
    assert (r.status_code, r.json()) == (404, {"error": "model 'nope' not found"})
    for name in ("", "bad name!"):
        r = http.post("/api/chat", json={"model": name, "messages": msgs})
        assert (r.status_code, r.json()) == (400, {"error": "model is required"})
    old.state.version = "0.12.0"  # from 0.12.0 the handler looks the model up itself
    r = http.post("/api/chat", json={"model": "nope", "messages": msgs})
    assert (r.status_code, r.json()) == (404, {"error": "model 'nope' not found"})
    r = http.get("/api/blobs/sha256:" + "0" * 64)
    assert (r.status_code, r.text) == (405, "405 method not allowed")


def test_capabilities_a_request_needs(old: OllamaDouble, http: httpx.Client, digest: str) -> None:
    http.post("/api/create", json={"model": "tiny", "files": {"tiny.gguf": digest}, "stream": False})
    full = "registry.ollama.ai/library/tiny:latest"
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    msgs = [{"role": "user", "content": "hi"}]
    for path, extra, error in (
        ("/api/generate", {"prompt": "hi", "think": True}, f"{full} does not support thinking"),
        ("/api/generate", {"prompt": "hi", "suffix": "end"}, f"{full} does not support insert"),
        ("/api/chat", {"messages": msgs, "tools": tools}, f"{full} does not support tools"),
        ("/api/chat", {"messages": msgs, "tools": tools, "think": True}, f"{full} does not support tools\nthinking"),
    ):
        r = http.post(path, json={"model": "tiny", **extra})
        assert (r.status_code, r.json()) == (400, {"error": error})
    old.state.version = "0.12.5"  # the handlers refuse thinking themselves
    r = http.post("/api/generate", json={"model": "tiny", "prompt": "hi", "think": True})
    assert r.json() == {"error": '"tiny" does not support thinking'}


def test_delete_removes_the_layers_no_model_uses(old: OllamaDouble, http: httpx.Client, digest: str) -> None:
    http.post("/api/create", json={"model": "a", "files": {"tiny.gguf": digest}, "stream": False})
    http.post("/api/copy", json={"source": "a", "destination": "b"})
    http.request("DELETE", "/api/delete", json={"model": "a"})
    assert http.head(f"/api/blobs/{digest}").status_code == 200  # b still uses it
    http.request("DELETE", "/api/delete", json={"model": "b"})
    assert http.head(f"/api/blobs/{digest}").status_code == 404  # a rebuild uploads it again


def test_a_quantize_rewrites_the_tensors(old: OllamaDouble, http: httpx.Client, digest: str) -> None:
    http.post("/api/create", json={"model": "q", "files": {"tiny.gguf": digest}, "quantize": "q8_0", "stream": False})
    tensors = http.post("/api/show", json={"model": "q"}).json()["tensors"]
    names = [t["name"] for t in tensors]
    assert names[:2] == ["blk.0.attn_k.weight", "blk.0.attn_norm.weight"] and names[-1] == "token_embd.weight"
    assert {t["type"] for t in tensors if len(t["shape"]) == 2} == {"Q8_0"}
    assert {t["type"] for t in tensors if len(t["shape"]) == 1} == {"F32"}


def test_a_raw_prompt_gets_no_context(old: OllamaDouble, http: httpx.Client, digest: str) -> None:
    http.post("/api/create", json={"model": "tiny", "files": {"tiny.gguf": digest}, "stream": False})
    body = {"model": "tiny", "prompt": "hi", "stream": False}
    assert "context" in http.post("/api/generate", json=body).json()
    assert "context" not in http.post("/api/generate", json={**body, "raw": True}).json()


def test_a_name_keeps_the_spelling_of_the_model_it_matches(old: OllamaDouble, http: httpx.Client, digest: str) -> None:
    http.post("/api/create", json={"model": "chef", "files": {"tiny.gguf": digest}, "stream": False})
    http.post("/api/create", json={"model": "CHEF", "from": "chef", "system": "x", "stream": False})
    http.post("/api/copy", json={"source": "chef", "destination": "Chef:Latest"})
    assert [m["name"] for m in http.get("/api/tags").json()["models"]] == ["chef:latest"]
    assert http.post("/api/show", json={"model": "chef"}).json()["system"] == "x"


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/create"), ("POST", "/api/tags"), ("PUT", "/api/show"), ("POST", "/")]
)
def test_a_known_path_with_another_method_is_405(old: OllamaDouble, http: httpx.Client, method: str, path: str) -> None:
    r = http.request(method, path)
    assert (r.status_code, r.text) == (405, "405 method not allowed")
    assert http.get("/api/nothing").status_code == 404
