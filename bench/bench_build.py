"""Benchmark: `modelctl build --force -q` of 20 profiles against a script doing the same creates with the
official `ollama` client, side by side in one run, against the same Ollama API double.

The double runs in a child process (so it does not compete for the GIL) with the base model
installed. Both sides run as fresh processes, in turn, so that machine noise hits them alike:

* modelctl: ``modelctl build p00.yaml ... p19.yaml --force -q`` (it loads, renders and checks every
  profile, asks the server's version and model list once and the base model's /api/show once
  (--force rebuilds whatever the models hold: nothing else about them is asked), creates, and
  lists the models once after, for its build records);
* the script: ``ollama.Client``: one version call, one model list, then per profile one create
  and one show, then one model list (what a careful hand-written script does).

Checked before the rounds: modelctl sends one /api/version, two /api/tags, 20 creates, one
/api/show (the base) and no /api/ps (no report is composed that nothing prints). Reported: the
minimum and the median of the per-round ratios modelctl / script (pairs run in the same round, not
the ratio of two medians). Target: median <= 1.15.

    python bench/bench_build.py
    python bench/bench_build.py --profiles 20 --rounds 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._util import ChildProcess, bench_env, paired, verdict  # noqa: E402
from bench.bench_plan import write_profiles  # noqa: E402

CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.ollama_double import OllamaDouble
d = OllamaDouble().start()
d.install("llama3.2:3b")
print(d.url, flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "reset":
        with d.state.lock:
            d.state.requests.clear()
        print("ok", flush=True)
    elif cmd == "counts":
        paths, shows = {}, {}
        for r in list(d.state.requests):
            paths[r["path"]] = paths.get(r["path"], 0) + 1
            if r["path"] == "/api/show":
                shows[r["json"]["model"]] = shows.get(r["json"]["model"], 0) + 1
        print(json.dumps({"paths": paths, "shows": shows}), flush=True)
    elif cmd == "quit":
        break
d.close()
"""

SCRIPT = """
import sys
from ollama import Client
host, n = sys.argv[1], int(sys.argv[2])
client = Client(host=host)
client._client.get("/api/version").raise_for_status()  # the client has no version() method
client.list()
for i in range(n):
    name = f"p{i:02d}"
    client.create(model=name, from_="llama3.2:3b", system=f"You are assistant {i}.",
                  parameters={"temperature": 0.5 + i / 100, "num_ctx": 4096})
    client.show(name)
client.list()
"""


def check_requests(child: ChildProcess, cmd: list[str], env: dict[str, str], n: int) -> dict[str, int]:
    child.ask("reset")
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    counts = json.loads(child.ask("counts"))
    paths, shows = counts["paths"], counts["shows"]
    assert paths.get("/api/version") == 1 and paths.get("/api/tags") == 2, paths
    assert paths.get("/api/create") == n and "/api/ps" not in paths, paths
    assert shows == {"llama3.2:3b": 1}, shows  # --force: only the base is asked about
    return dict(paths)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profiles", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    child = ChildProcess(CHILD, str(REPO))
    url = child.first
    try:
        with tempfile.TemporaryDirectory() as tmp:
            refs = write_profiles(Path(tmp), args.profiles)
            env = {**bench_env(), "PYTHONPATH": str(REPO), "MODELCTL_STATE_DIR": str(Path(tmp) / "state")}
            env.pop("OLLAMA_HOST", None)
            modelctl = [sys.executable, "-m", "modelctl", "build", *refs, "--force", "-q", "--host", url]
            script = [sys.executable, "-c", SCRIPT, url, str(args.profiles)]
            subprocess.run(modelctl, check=True, env=env, stdout=subprocess.DEVNULL)  # the models exist from here on
            paths = check_requests(child, modelctl, env, args.profiles)
            samples = paired({"modelctl": modelctl, "script": script}, runs=args.rounds, env=env)
    finally:
        child.close()
    print(f"build --force -q of {args.profiles} profiles vs the ollama client (one create + one show each)")
    print(f"modelctl requests per run: {sum(paths.values())} ({json.dumps(paths, sort_keys=True)})")
    print(f"{'':>10}  {'median s':>8}  {'min s':>8}")
    for name, values in samples.items():
        print(f"{name:>10}  {statistics.median(values):>8.3f}  {min(values):>8.3f}")
    print(verdict("modelctl / the script", samples["modelctl"], samples["script"], 1.15))


if __name__ == "__main__":
    main()
