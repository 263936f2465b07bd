"""Write tiny.gguf: a complete 2-layer llama of about 218 KiB, for trying modelctl without a download.

    python examples/make_tiny_gguf.py [PATH]      # default: tiny.gguf in the current folder

Run it from a clone of the repository with the test extra installed (`pip install '.[test]'`:
it brings the `gguf` package); it writes the model the tests use.
The model (tests/fixtures_gguf.py) is 64 wide, 4 heads (2 KV heads),
trained context 4096, F16 weights, a byte-level vocabulary. Its answers are noise, but every
command works on it: inspect, estimate, build, show --verify.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for tests/


def main(argv: list[str]) -> int:
    try:
        from tests.fixtures_gguf import write_tiny_llama
    except ImportError as exc:
        print(f"error: {exc} (install the test extra: pip install '.[test]')", file=sys.stderr)
        return 1
    path = Path(argv[0] if argv else "tiny.gguf")
    write_tiny_llama(path)
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
