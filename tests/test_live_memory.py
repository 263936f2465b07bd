"""Memory figures and the runner's command line against a real Ollama (marked `live`).

For two generated models (the 2-layer tiny llama, and an 8-layer one with a 32,000-token
vocabulary) built with ``num_ctx 2048``, each loaded once:

* Ollama's own estimate (``estimate``'s ``data.estimate.ollama.total_bytes``, llm/memory.go
  EstimateGPULayers) is within 10 % of ``/api/ps`` ``size`` (for the versions that have that
  estimator: before 0.12.11);
* with the server's log (``--ollama-log FILE`` or ``$MODELCTL_LIVE_LOG``; e.g. the ``serve.log``
  of ``python -m tests.real_ollama start``): ``explain``'s runner command agrees with the command
  line the server started (``--ctx-size``, ``--parallel``, ``--batch-size``, flash attention, KV
  type), and the KV cache and compute buffer agree with what llama.cpp logged;
* ``estimate --together``: two profiles on one weights file with different num_ctx evict each
  other (the server keeps one runner), two on different weights stay loaded side by side, and the
  sizes the server reports are Ollama's figures.

    python -m tests.real_ollama start --port 11530
    MODELCTL_LIVE_LOG=~/.cache/modelctl/real-ollama-0.9.3/run/11530/serve.log \\
        pytest -m live --ollama-host http://127.0.0.1:11530 tests/test_live_memory.py
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_double import run_cli
from tests.fixtures_gguf import write_tiny_gguf, write_tiny_llama

pytestmark = pytest.mark.live

NUM_CTX = 2048
MiB = 1 << 20
ESTIMATOR_UNTIL = (0, 12, 11)  # llm/memory.go EstimateGPULayers exists before this release
#: Read at collection, before the tests isolate the environment.
LIVE_LOG = os.environ.get("MODELCTL_LIVE_LOG")


def _write_mid(path: Path) -> Path:
    """8 layers, 256 wide, 8 heads / 4 KV heads, a 32,000-token vocabulary (about 41 MiB at F16)."""
    return write_tiny_gguf(path, name="mid-llama", block_count=8, embedding_length=256, feed_forward_length=512,
                           head_count=8, head_count_kv=4, vocab_size=32000)  # fmt: skip


WRITERS = {"tiny": write_tiny_llama, "mid": _write_mid}


# ------------------------------------------------------------------------------------------ helpers


def _client(host: str) -> Any:
    from modelctl.ollama.server import OllamaClient

    return OllamaClient(host, timeout=300)


def _version(host: str) -> tuple[int, ...]:
    from modelctl.ollama.wire import parse_version

    with _client(host) as c:
        return parse_version(c.version()) or (0, 0, 0)


def _cli_json(host: str, cwd: Path, *args: str) -> dict[str, Any]:
    env = {"MODELCTL_STATE_DIR": str(cwd / "state")}
    proc = run_cli(*args, "--format", "json", host=host, env=env, cwd=cwd, timeout=600)
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def _raw(host: str) -> Any:
    import httpx

    return httpx.Client(base_url=host, timeout=300, trust_env=False)


def _ps(host: str) -> dict[str, dict[str, Any]]:
    """The loaded models by name (without ``:latest``)."""
    with _raw(host) as h:
        models = h.get("/api/ps").json().get("models") or []
    return {str(m["name"]).removesuffix(":latest"): m for m in models}


def _unload_all(host: str) -> None:
    with _raw(host) as h:
        for name in _ps(host):
            h.post("/api/generate", json={"model": name, "keep_alive": 0})
    for _ in range(100):  # the server unloads in the background
        if not _ps(host):
            return
        time.sleep(0.05)


def _load(host: str, name: str) -> None:
    with _raw(host) as h:
        r = h.post("/api/generate", json={"model": name, "prompt": "hi", "stream": False,
                                         "options": {"num_predict": 1}})  # fmt: skip
        assert r.status_code == 200, r.text


def _log_path(request: pytest.FixtureRequest) -> Path | None:
    try:
        given = request.config.getoption("--ollama-log", default=None)
    except ValueError:  # the option is not registered
        given = None
    given = given or LIVE_LOG
    return Path(given).expanduser() if given else None


@dataclass
class Loaded:
    """What the server wrote to its log for one load."""

    argv: list[str]
    offload: dict[str, str]
    kv_mib: float | None
    compute_mib: float | None

    def arg(self, flag: str) -> str | None:
        return self.argv[self.argv.index(flag) + 1] if flag in self.argv else None


_CMD = re.compile(r'msg="starting llama server" cmd="([^"]*)"')
_OFFLOAD_FIELD = re.compile(r'([\w.]+)="?([^"\s]*(?: [KMG]?i?B)?)"?')


def parse_load(text: str) -> Loaded:
    """The last load in a piece of the server's log: the runner's command line, the offload line,
    llama.cpp's KV cache and compute buffer sizes."""
    cmds = _CMD.findall(text)
    assert cmds, "no 'starting llama server' line in the server log"
    offload_lines = [ln for ln in text.splitlines() if "msg=offload" in ln]
    offload = dict(_OFFLOAD_FIELD.findall(offload_lines[-1])) if offload_lines else {}
    kv = re.findall(r"KV self size\s*=\s*([\d.]+) MiB", text) or re.findall(r"KV buffer size\s*=\s*([\d.]+) MiB", text)
    compute = re.findall(r"compute buffer size\s*=\s*([\d.]+) MiB", text)
    return Loaded(shlex.split(cmds[-1]), offload, float(kv[-1]) if kv else None,
                  float(compute[-1]) if compute else None)  # fmt: skip


def test_parse_load_reads_the_lines_0_9_3_writes() -> None:
    """The parser, on the lines the real 0.9.3 (Intel build) wrote for the tiny llama."""
    text = (
        "time=x level=INFO source=server.go:187 msg=offload library=cpu layers.requested=-1 layers.model=3 "
        'memory.required.full="42.2 MiB" memory.required.kv="1.0 MiB" memory.graph.full="40.5 MiB"\n'
        'time=x level=INFO source=server.go:458 msg="starting llama server" cmd="/x/ollama-lib runner --model '
        "/m/blobs/sha256-e8 --ctx-size 4096 --batch-size 512 --n-gpu-layers 999 --threads 2 --no-mmap "
        '--parallel 2 --port 44193"\n'
        "llama_kv_cache_unified: KV self size  =    1.00 MiB, K (f16):    0.50 MiB, V (f16):    0.50 MiB\n"
        "llama_context:        CPU compute buffer size =    40.51 MiB\n"
    )
    got = parse_load(text)
    assert got.arg("--ctx-size") == "4096" and got.arg("--parallel") == "2" and got.arg("--batch-size") == "512"
    assert "--flash-attn" not in got.argv and got.arg("--kv-cache-type") is None
    assert got.offload["memory.required.full"] == "42.2 MiB" and got.offload["layers.model"] == "3"
    assert got.kv_mib == 1.0 and got.compute_mib == 40.51


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def models(live_host: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """Both models built with num_ctx 2048: (the folder of their profiles, {kind: model name})."""
    from modelctl.ollama.server import ModelNotFound

    folder = tmp_path_factory.mktemp("live-memory")
    tag = uuid.uuid4().hex[:8]
    names = {kind: f"modelctl-mem-{kind}-{tag}" for kind in WRITERS}
    for kind, write in WRITERS.items():
        write(folder / f"{kind}.gguf")
        (folder / f"{kind}.yaml").write_text(
            f"name: {names[kind]}\nfrom: ./{kind}.gguf\nparameters: {{num_ctx: {NUM_CTX}}}\n", encoding="utf-8"
        )
        _cli_json(live_host, folder, "build", str(folder / f"{kind}.yaml"))
    yield folder, names
    _unload_all(live_host)
    with _client(live_host) as c:
        for name in names.values():
            with contextlib.suppress(ModelNotFound):
                c.delete(name)


def _loaded_alone(live_host: str, name: str, log: Path | None) -> tuple[dict[str, Any], Loaded | None]:
    """Load ``name`` with nothing else loaded: its /api/ps entry and (with the log) what the server logged."""
    _unload_all(live_host)
    start = log.stat().st_size if log is not None and log.exists() else 0
    _load(live_host, name)
    entry = _ps(live_host)[name]
    if log is None:
        return entry, None
    with log.open("rb") as f:
        f.seek(start)
        return entry, parse_load(f.read().decode("utf-8", "replace"))


# ------------------------------------------------------------------------------------------ the tests


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_ollama_figure_within_10_percent_of_ps_size(
    live_host: str, models: tuple[Path, dict[str, str]], kind: str, request: pytest.FixtureRequest
) -> None:
    if _version(live_host) >= ESTIMATOR_UNTIL:
        pytest.skip("this Ollama sizes loads from the runner's allocations: no estimator to compare")
    folder, names = models
    est = _cli_json(live_host, folder, "estimate", names[kind])["data"]["estimate"]
    entry, logged = _loaded_alone(live_host, names[kind], _log_path(request))
    ours, size = est["ollama"]["total_bytes"], int(entry["size"])
    assert abs(ours - size) <= 0.10 * size, (kind, ours, size)
    assert est["num_ctx"] == NUM_CTX
    if logged is not None and "memory.required.kv" in logged.offload:
        kv = est["ollama"]["estimate"]["kv_cache_bytes"]
        assert f"{kv / MiB:.1f} MiB" == logged.offload["memory.required.kv"]


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_explain_agrees_with_the_runner_command_line(
    live_host: str, models: tuple[Path, dict[str, str]], kind: str, request: pytest.FixtureRequest
) -> None:
    log = _log_path(request)
    if log is None or not log.exists():
        pytest.skip("no server log: give --ollama-log FILE or $MODELCTL_LIVE_LOG")
    folder, names = models
    runner = _cli_json(live_host, folder, "explain", names[kind])["data"]["runner"]["command"]
    est = _cli_json(live_host, folder, "estimate", names[kind])["data"]["estimate"]
    _, logged = _loaded_alone(live_host, names[kind], log)
    assert logged is not None
    ctx_flag, slots_flag, batch_flag = (
        ("-c", "-np", "-b") if runner["program"] == "llama-server" else ("--ctx-size", "--parallel", "--batch-size")
    )
    assert logged.arg(ctx_flag) == str(runner["ctx_size"]) == str(est["context_cells"])
    assert logged.arg(slots_flag) == str(runner["parallel"]) == str(est["parallel"])
    assert logged.arg(batch_flag) == str(runner["batch_size"])
    fa_logged = "--flash-attn" in logged.argv and logged.arg("--flash-attn") not in ("off",)
    assert bool(runner["flash_attention"]) == fa_logged == est["flash_attention"]
    kv_logged = logged.arg("--kv-cache-type") or logged.arg("--cache-type-k") or "f16"
    assert runner["kv_cache_type"] == kv_logged == est["kv_type"]
    # llama.cpp's own buffers: the KV cache to its logged precision, the compute buffer within 10 %.
    if logged.kv_mib is not None:
        assert abs(est["kv_cache_bytes"] / MiB - logged.kv_mib) <= 0.005
    if logged.compute_mib is not None:
        assert abs(est["compute_bytes"] / MiB - logged.compute_mib) <= 0.10 * logged.compute_mib


def test_estimate_together_matches_what_the_server_keeps_loaded(
    live_host: str, models: tuple[Path, dict[str, str]]
) -> None:
    """Two profiles on the tiny weights (num_ctx 2048 and 1024) and the mid model: modelctl says the
    first two evict each other and the mid one loads beside; the server then holds one tiny runner
    and the mid one, at the sizes Ollama's figures give."""
    folder, names = models
    other = names["tiny"] + "-short"
    (folder / "short.yaml").write_text(f"name: {other}\nfrom: ./tiny.gguf\nparameters: {{num_ctx: 1024}}\n",
                                       encoding="utf-8")  # fmt: skip
    _cli_json(live_host, folder, "build", str(folder / "short.yaml"))
    try:
        data = _cli_json(live_host, folder, "estimate", "--together", *(names[k] for k in sorted(WRITERS)), other)[
            "data"
        ]
        evicted = {frozenset(e["a"] + e["b"]) for e in data["evictions"]}
        assert frozenset({names["tiny"], other}) in evicted
        assert data["loaded_at_once"] == 2
        _unload_all(live_host)
        for name in (names["mid"], names["tiny"], other):
            _load(live_host, name)
        ps = _ps(live_host)
        assert set(ps) == {names["mid"], other}  # the short one replaced the tiny runner; mid stayed
        if _version(live_host) < ESTIMATOR_UNTIL:
            figures = {label: r["memory"]["ollama"]["total_bytes"] for r in data["runners"] for label in r["profiles"]}
            for name, entry in ps.items():
                assert abs(figures[name] - int(entry["size"])) <= 0.10 * int(entry["size"]), name
    finally:
        _unload_all(live_host)
        from modelctl.ollama.server import ModelNotFound

        with _client(live_host) as c, contextlib.suppress(ModelNotFound):
            c.delete(other)
