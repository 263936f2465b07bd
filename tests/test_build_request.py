"""Unit tests for build request assembly: typed parameters, file keys, blob plan, up-to-date rule."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from modelctl.errors import InvalidInput
from modelctl.jobs.build import (
    assemble,
    files_for_model,
    request_file_names,
    valid_path,
)
from modelctl.jobs.drift import Difference, differences, request_fingerprint
from modelctl.modelfile.grammar import ModelSpec
from modelctl.profile.params import typed_parameters


def spec(**kw: Any) -> ModelSpec:
    base: dict[str, Any] = {
        "froms": ["llama3.2:3b"],
        "parameters": {},
        "system": None,
        "template": None,
        "messages": [],
        "license": [],
        "adapters": [],
        "requires": None,
        "renderer": None,
        "parser": None,
        "drafts": [],
        "warnings": [],
    }
    if "draft" in kw:  # one DRAFT line
        kw["drafts"] = [] if kw["draft"] is None else [kw.pop("draft")]
        kw.pop("draft", None)
    base.update(kw)
    return ModelSpec(**base)


def digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_request_from_model_name_has_exact_fields(tmp_path: Path) -> None:
    s = spec(
        parameters={"temperature": 1, "num_ctx": 8192, "stop": ["<|eot_id|>", "###"], "use_mmap": False, "top_p": 0.95},
        system="You are a chef.",
        template="",
        messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        license=["MIT"],
        requires="v0.12.0",
    )
    plan = assemble(s, name="chef", base_dir=tmp_path, quantize="q4_K_M")
    req = plan.request
    assert list(req) == [
        "model",
        "from",
        "system",
        "parameters",
        "messages",
        "license",
        "quantize",
        "requires",
        "stream",
    ]
    assert req["model"] == "chef" and req["from"] == "llama3.2:3b"
    assert req["parameters"] == {
        "num_ctx": 8192,
        "use_mmap": False,
        "top_p": 0.95,
        "temperature": 1.0,
        "stop": ["<|eot_id|>", "###"],
    }
    # JSON types: ints stay ints, floats are floats, bools are bools, stop is a list.
    encoded = json.dumps(req["parameters"])
    assert '"num_ctx": 8192' in encoded and '"temperature": 1.0' in encoded and '"use_mmap": false' in encoded
    assert "template" not in req  # never an empty template
    assert req["license"] == ["MIT"] and req["requires"] == "0.12.0" and req["stream"] is True
    assert plan.blobs == [] and plan.base_model == "llama3.2:3b"
    assert any(w.code == "empty_inherits" and w.field == "template" for w in plan.warnings)


def test_local_gguf_is_hashed_and_referenced_by_base_name(tmp_path: Path) -> None:
    model = tmp_path / "weights" / "tiny.gguf"
    model.parent.mkdir()
    model.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(range(256)) * 100)
    adapter = tmp_path / "lora.gguf"
    adapter.write_bytes(b"GGUF\x03\x00\x00\x00adapter")
    plan = assemble(spec(froms=[str(model)], adapters=["./lora.gguf"]), name="m", base_dir=tmp_path)
    assert "from" not in plan.request
    assert plan.request["files"] == {"tiny.gguf": digest(model)}
    assert plan.request["adapters"] == {"lora.gguf": digest(adapter)}
    assert [(b.kind, b.key, b.size) for b in plan.blobs] == [
        ("files", "tiny.gguf", model.stat().st_size),
        ("adapters", "lora.gguf", adapter.stat().st_size),
    ]
    assert all(b.present is None for b in plan.blobs)


def test_directory_from_collects_model_files_like_ollama(tmp_path: Path) -> None:
    d = tmp_path / "hf"
    (d / "sub").mkdir(parents=True)
    for name in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        (d / name).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (d / "config.json").write_text("{}")
    (d / "tokenizer.json").write_text("{}")
    (d / "sub" / "config.json").write_text("{}")
    (d / "notes.txt").write_text("not a model file")
    (d / "tokenizer.model").write_bytes(b"\x0a\x00\x01binary")
    files = files_for_model(d)
    assert [f.name for f in files] == [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "config.json",
        "tokenizer.json",
        "config.json",
        "tokenizer.model",
    ]
    plan = assemble(spec(froms=[str(d)]), name="m", base_dir=tmp_path)
    keys = sorted(plan.request["files"])
    assert keys == [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "sub/config.json",
        "tokenizer.json",
        "tokenizer.model",
    ]
    assert all(valid_path(k) for k in keys)


def test_directory_with_gguf_only(tmp_path: Path) -> None:
    d = tmp_path / "g"
    d.mkdir()
    (d / "a.gguf").write_bytes(b"GGUF\x03\x00\x00\x00\x00")
    assert [f.name for f in files_for_model(d)] == ["a.gguf"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="no model files"):
        files_for_model(tmp_path / "empty")


def test_file_names_relative_to_common_root(tmp_path: Path) -> None:
    a = tmp_path / "x" / "one.gguf"
    b = tmp_path / "y" / "z" / "two.gguf"
    names = request_file_names([a, b])
    assert names == {a: "x/one.gguf", b: "y/z/two.gguf"}
    assert request_file_names([a]) == {a: "one.gguf"}


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("a.gguf", True),
        ("sub/a.gguf", True),
        ("./a.gguf", False),
        ("../a", False),
        ("/abs", False),
        ("a//b", False),
        ("", False),
        ("a/", False),
        (".", False),
    ],
)
def test_valid_path(key: str, ok: bool) -> None:
    assert valid_path(key) is ok


def test_typed_parameters_refuses_strings_and_unknown_names() -> None:
    with pytest.raises(InvalidInput, match=r"invalid int value \[4096\]"):
        typed_parameters({"num_ctx": "4096"})
    with pytest.raises(InvalidInput, match="unknown parameter 'tfs_z'"):
        typed_parameters({"tfs_z": 1.0})
    with pytest.raises(InvalidInput, match="invalid float value"):
        typed_parameters({"temperature": True})
    assert typed_parameters({"num_ctx": 4096.0, "stop": "x"}) == {"num_ctx": 4096, "stop": ["x"]}
    warnings: list[Any] = []
    assert typed_parameters({"mirostat": 1}, warnings) == {}
    assert warnings and warnings[0].code == "deprecated_parameter"


def test_missing_local_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="local model not found"):
        assemble(spec(froms=["./missing.gguf"]), name="m", base_dir=tmp_path)


# ------------------------------------------------------------------------------------------
# differences(): the "up to date" rule

BASE_BLOB = "sha256:" + "a" * 64


def show(params: str = "", **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "modelfile": f"# generated\nFROM /models/blobs/sha256-{'a' * 64}\nTEMPLATE {{{{ .Prompt }}}}\n",
        "parameters": params,
        "template": "{{ .Prompt }}",
        "system": "",
        "license": "",
        "messages": [],
        "details": {"parent_model": "base:latest", "quantization_level": "Q4_K_M"},
    }
    out.update(kw)
    return out


def request(**kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": "m",
        "from": "base",
        "system": "Be brief.",
        "parameters": {"temperature": 0.7, "num_ctx": 1048576, "stop": ["a", "b"]},
        "stream": True,
    }
    out.update(kw)
    return out


DEPLOYED_PARAMS = (
    'stop                           "b"\n'
    "temperature                    0.699999988079071\n"
    "num_ctx                        1.048576e+06\n"
    "top_k                          40\n"
    'stop                           "a"'
)


def test_matching_model_has_no_differences() -> None:
    base_params = 'top_k                          40\nstop                           "x"'
    base = show(base_params, license="base license")
    deployed = show(DEPLOYED_PARAMS, system="Be brief.", license="base license")
    assert differences(request(), deployed, base) == []


def fields(diffs: list[Difference]) -> dict[str, Difference]:
    return {d.field: d for d in diffs}


def test_each_difference_is_named() -> None:
    base = show("top_k                          40", license="L")
    deployed = show(
        DEPLOYED_PARAMS.replace("0.699999988079071", "0.71"),
        system="Other.",
        license="L",
        messages=[{"role": "user", "content": "x"}],
    )
    diffs = fields(differences(request(), deployed, base))
    t = diffs["parameters.temperature"]
    assert (t.action, t.wanted, t.found) == ("~", 0.7, 0.71)
    assert diffs["system"].action == "~" and diffs["system"].wanted == "Be brief."
    assert diffs["messages"].action == "-" and diffs["messages"].found == [{"role": "user", "content": "x"}]
    # An inherited parameter the base no longer has is a difference too.
    deployed2 = show(DEPLOYED_PARAMS, system="Be brief.", license="L")
    diffs2 = fields(differences(request(), deployed2, show("", license="L")))
    assert diffs2["parameters.top_k"].action == "-" and diffs2["parameters.top_k"].found == 40
    assert "top_k is on the deployed model (40)" in diffs2["parameters.top_k"].reason()


def test_stop_lists_compare_as_sets_and_show_the_profiles_order() -> None:
    base = show("top_k                          40")
    deployed = show(DEPLOYED_PARAMS.replace('"a"', '"z"'), system="Be brief.")
    d = fields(differences(request(), deployed, base))["parameters.stop"]
    assert d.wanted == ["a", "b"] and d.found == ["b", "z"]
    assert differences(request(), show(DEPLOYED_PARAMS, system="Be brief."), base) == []


def test_weights_must_come_from_the_current_base() -> None:
    base = show("top_k                          40")
    base["modelfile"] = base["modelfile"].replace("a" * 64, "b" * 64)
    deployed = show(DEPLOYED_PARAMS, system="Be brief.")
    d = fields(differences(request(), deployed, base))["from"]
    assert "weights differ" in d.note and d.wanted == ["sha256:" + "b" * 64]
    missing = fields(differences(request(), deployed, None))["from"]
    assert missing.action == "+" and "not on the server" in missing.note


def test_file_model_compares_blob_digests() -> None:
    req = {"model": "m", "files": {"tiny.gguf": BASE_BLOB}, "stream": True}
    deployed = show("")
    assert differences(req, deployed, None) == []
    req2 = {"model": "m", "files": {"tiny.gguf": "sha256:" + "c" * 64}, "stream": True}
    assert "not the local files" in fields(differences(req2, deployed, None))["from"].note


def test_a_record_proves_a_match_until_the_base_changes() -> None:
    req = {**request(), "quantize": "q8_0"}
    deployed = show(DEPLOYED_PARAMS, system="Be brief.")
    base = show("")
    assert differences(req, deployed, base)  # quantized: cannot be compared field by field
    record = {"fingerprint": request_fingerprint(req), "base_blobs": [BASE_BLOB]}
    assert differences(req, deployed, base, record=record) == []
    moved = show("")
    moved["modelfile"] = moved["modelfile"].replace("a" * 64, "b" * 64)
    assert "changed since the last build" in differences(req, deployed, moved, record=record)[0].note


def test_fields_an_old_server_does_not_store_are_not_compared() -> None:
    req = {**request(), "renderer": "qwen3", "parser": "qwen3", "requires": "0.14.0"}
    deployed = show(DEPLOYED_PARAMS, system="Be brief.")
    base = show('top_k                          40\nstop                           "x"')
    # 0.13 stores RENDERER and PARSER (0.12+) but not REQUIRES (0.14+)
    assert {d.field for d in differences(req, deployed, base, version="0.13.0")} == {"renderer", "parser"}
    assert differences(req, deployed, base, version="0.11.0") == []
    assert {d.field for d in differences(req, deployed, base, version="0.14.0")} == {"renderer", "parser", "requires"}


def test_renderer_and_parser_come_from_the_modelfile_lines() -> None:
    req = {**request(), "renderer": "qwen3"}
    deployed = show(DEPLOYED_PARAMS, system="Be brief.")
    deployed["modelfile"] += "RENDERER qwen3\nPARSER qwen3\n"
    base = show('top_k                          40\nstop                           "x"')
    base["modelfile"] += "PARSER qwen3\n"
    assert differences(req, deployed, base) == []  # the parser is the base's, inherited
    d = fields(differences({**req, "parser": "other"}, deployed, base))["parser"]
    assert (d.action, d.wanted, d.found) == ("~", "other", "qwen3")


def test_draft_compares_the_draft_blob() -> None:
    draft = "sha256:" + "d" * 64
    req = {**request(), "draft_files": {"draft.gguf": draft}}
    deployed = show(DEPLOYED_PARAMS, system="Be brief.")
    base = show('top_k                          40\nstop                           "x"')
    assert fields(differences(req, deployed, base))["draft"].action == "+"
    deployed["modelfile"] += f"DRAFT /models/blobs/sha256-{'d' * 64}\n"
    assert differences(req, deployed, base) == []


def test_fingerprint_is_order_independent() -> None:
    a = {"model": "m", "parameters": {"a": 1, "b": 2}}
    b = {"parameters": {"b": 2, "a": 1}, "model": "m"}
    assert request_fingerprint(a) == request_fingerprint(b)
    assert request_fingerprint(a) != request_fingerprint({**a, "system": "x"})


# ------------------------------------------------------------------------------------------
# The build flow at the HTTP level (respx)


def test_builder_flow_with_respx(tmp_path: Path) -> None:
    import httpx
    import respx

    from modelctl.jobs.build import Builder, BuildRecords
    from modelctl.ollama.session import HostSession

    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"\x00" * 4096)
    plan = assemble(spec(froms=[str(model)], parameters={"num_ctx": 2048}), name="m", base_dir=tmp_path)
    dig = plan.blobs[0].digest
    uploaded: list[bytes] = []

    def upload(request: httpx.Request) -> httpx.Response:
        uploaded.append(request.read())
        return httpx.Response(201)

    show_body = {
        "modelfile": f"FROM /x/blobs/{dig.replace(':', '-')}\n",
        "parameters": "num_ctx                        2048",
        "details": {"quantization_level": "F16", "family": "llama"},
        "model_info": {"general.architecture": "llama", "llama.context_length": 4096},
        "capabilities": ["completion"],
    }
    created = {"done": False}

    def show(request: httpx.Request) -> httpx.Response:
        if not created["done"]:
            return httpx.Response(404, json={"error": "model 'm' not found"})
        return httpx.Response(200, json=show_body)

    def create(request: httpx.Request) -> httpx.Response:
        created["done"] = True
        sent = json.loads(request.content)
        assert sent["files"] == {"m.gguf": dig} and sent["parameters"] == {"num_ctx": 2048}
        lines = [{"status": "success"}, {"status": "parsing GGUF"}, {"status": "success"}]
        return httpx.Response(200, content="".join(json.dumps(x) + "\n" for x in lines).encode())

    with respx.mock(base_url="http://ollama.test:11434", assert_all_called=True) as mock:
        version = mock.get("/api/version").respond(json={"version": "0.12.6"})
        shows = mock.post("/api/show").mock(side_effect=show)
        mock.head(f"/api/blobs/{dig}").respond(404)
        mock.post(f"/api/blobs/{dig}").mock(side_effect=upload)
        mock.post("/api/create").mock(side_effect=create)
        tags = {"models": [{"name": "m:latest", "digest": "d" * 64, "size": 4100}]}
        mock.get("/api/tags").respond(json=tags)
        mock.get("/api/ps").respond(json={"models": []})
        records = BuildRecords(tmp_path / "builds.json")
        with HostSession("http://ollama.test:11434") as session:
            builder = Builder(session, records=records)
            outcome = builder.run(plan)
            assert builder.finish([outcome]) == {}
            records.flush()  # the run's owner writes the records, once
    assert version.call_count == 1 and shows.call_count == 2  # before and after the create
    assert outcome.status == "created" and outcome.statuses == ["success", "parsing GGUF", "success"]
    assert uploaded == [model.read_bytes()] and outcome.uploaded_bytes == model.stat().st_size
    assert outcome.report is not None and outcome.report.to_dict()["context_length"]["trained"] == 4096
    assert records.get("d" * 64)["fingerprint"] == request_fingerprint(plan.request)  # type: ignore[index]


def test_draft_is_hashed_and_sent_as_draft_files(tmp_path: Path) -> None:
    weights = tmp_path / "m.gguf"
    weights.write_bytes(b"GGUF" + b"\x01" * 64)
    draft = tmp_path / "d.gguf"
    draft.write_bytes(b"GGUF" + b"\x02" * 64)
    plan = assemble(spec(froms=["./m.gguf"], draft="./d.gguf"), name="m", base_dir=tmp_path, draft_quantize="q8_0")
    assert plan.request["draft_files"] == {"d.gguf": digest(draft)}
    assert plan.request["draft_quantize"] == "q8_0" and plan.request["files"] == {"m.gguf": digest(weights)}
    assert [b.kind for b in plan.blobs] == ["files", "draft_files"]
    with pytest.raises(InvalidInput, match="DRAFT must not reference the same local path as FROM"):
        assemble(spec(froms=["./m.gguf"], draft="./m.gguf"), name="m", base_dir=tmp_path)
    with pytest.raises(InvalidInput, match="draft_quantize needs a DRAFT"):
        assemble(spec(froms=["./m.gguf"]), name="m", base_dir=tmp_path, draft_quantize="q8_0")


def test_several_from_files_merge_into_files(tmp_path: Path) -> None:
    (tmp_path / "m.gguf").write_bytes(b"GGUF" + b"\x01" * 64)
    (tmp_path / "mmproj.gguf").write_bytes(b"GGUF" + b"\x03" * 64)
    plan = assemble(spec(froms=["./m.gguf", "./mmproj.gguf"]), name="m", base_dir=tmp_path)
    assert set(plan.request["files"]) == {"m.gguf", "mmproj.gguf"}


def test_directory_symlink_outside_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.gguf"
    outside.write_bytes(b"GGUF\x03\x00\x00\x00\x00")
    d = tmp_path / "model"
    d.mkdir()
    (d / "weights.gguf").symlink_to(outside)
    with pytest.raises(InvalidInput, match="insecure path"):
        files_for_model(d)


def test_symlinked_single_file_is_keyed_by_the_link_name(tmp_path: Path) -> None:
    """Like Ollama's CLI (fileDigestMap keeps a single FROM/ADAPTER path as given): a link into a
    download cache (blobs named by hash) is still sent as ``model.gguf``, not ``<hash>``."""
    blobs = tmp_path / "cache" / "blobs"
    blobs.mkdir(parents=True)
    target = blobs / ("ab" * 32)
    target.write_bytes(b"GGUF\x03\x00\x00\x00weights")
    lora_target = blobs / ("cd" * 32)
    lora_target.write_bytes(b"GGUF\x03\x00\x00\x00lora")
    (tmp_path / "model.gguf").symlink_to(target)
    (tmp_path / "lora.gguf").symlink_to(lora_target)
    plan = assemble(spec(froms=["./model.gguf"], adapters=["./lora.gguf"]), name="m", base_dir=tmp_path)
    assert plan.request["files"] == {"model.gguf": digest(target)}
    assert plan.request["adapters"] == {"lora.gguf": digest(lora_target)}


def test_build_records_survive_a_damaged_file(tmp_path: Path) -> None:
    """A hand-edited or damaged builds.json only costs a rebuild; it never fails a build."""
    from modelctl.jobs.build import BuildRecords

    path = tmp_path / "builds.json"
    damaged = {f"sha{i}": "oops" for i in range(3)}
    damaged.update({"old": {"fingerprint": "f", "recorded_at": "yesterday"}})
    path.write_text(json.dumps(damaged), encoding="utf-8")
    records = BuildRecords(path)
    records.MAX_ENTRIES = 2  # type: ignore[misc]
    records.put("new", {"fingerprint": "g"})
    assert records.get("new") is not None and records.get("new")["fingerprint"] == "g"  # type: ignore[index]
    assert records.get("sha0") is None
    assert len(json.loads(path.read_text(encoding="utf-8"))) <= 2


def test_directory_in_a_download_cache_gets_a_hint(tmp_path: Path) -> None:
    """Hub caches keep snapshot files as links into a sibling blobs/ folder: say what to do."""
    cache = tmp_path / ".cache" / "huggingface" / "hub" / "models--x"
    (cache / "blobs").mkdir(parents=True)
    (cache / "blobs" / "ab12").write_bytes(b"GGUF\x03\x00\x00\x00\x00")
    snap = cache / "snapshots" / "rev"
    snap.mkdir(parents=True)
    (snap / "model.gguf").symlink_to(cache / "blobs" / "ab12")
    with pytest.raises(InvalidInput, match="insecure path") as ei:
        files_for_model(snap)
    assert "--local-dir" in str(ei.value)
