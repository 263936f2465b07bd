"""Run by an interpreter that has llama-cpp-python: load one GGUF, create one context, print
llama.cpp's log (as JSON) so that bench_memory_llamacpp.py can read the buffer sizes it reports.

    python _llamacpp_probe.py '{"path": "m.gguf", "n_ctx": 8192, "n_seq_max": 1, "kv": "f16", "fa": "on"}'

The context is created as llama-server creates it under Ollama: one stream per slot
(kv_unified false), a sliding-window cache of window + n_ubatch (swa_full false; the library's
own default is true), -b and -ub both num_batch. Nothing is evaluated.
"""

from __future__ import annotations

import ctypes
import json
import sys

import llama_cpp as lc  # type: ignore[import-not-found]

_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 8}
_FA = {"auto": -1, "off": 0, "on": 1}


def main() -> None:
    args = json.loads(sys.argv[1])
    lines: list[str] = []

    @ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
    def log(level: int, text: bytes, user: object) -> None:
        lines.append(text.decode("utf-8", "replace"))

    lc.llama_log_set(log, None)
    lc.llama_backend_init()
    mp = lc.llama_model_default_params()
    mp.n_gpu_layers = 0
    model = lc.llama_model_load_from_file(args["path"].encode(), mp)
    ok = bool(model)
    if ok:
        cp = lc.llama_context_default_params()
        cp.n_ctx = args["n_ctx"] * args.get("n_seq_max", 1)
        cp.n_seq_max = args.get("n_seq_max", 1)
        cp.n_batch = args.get("n_batch", 512)
        cp.n_ubatch = args.get("n_ubatch", cp.n_batch)
        cp.flash_attn_type = _FA[args.get("fa", "on")]
        cp.type_k = cp.type_v = _TYPES[args.get("kv", "f16")]
        cp.swa_full = False
        cp.kv_unified = False
        cp.n_threads = cp.n_threads_batch = 1
        ok = bool(lc.llama_init_from_model(model, cp))
    print(json.dumps({"ok": ok, "version": getattr(lc, "__version__", "?"), "log": "".join(lines)}))


if __name__ == "__main__":
    main()
