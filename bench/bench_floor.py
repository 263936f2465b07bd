"""The floor under `modelctl plan`: what any client on modelctl's packages pays before and while it asks.

Each round runs, in turn, as fresh processes against the API doubles of bench/bench_plan.py (50
deployed models, ``--latency`` on every endpoint):

* ``python -c pass`` (the ideal's start-up);
* **requests only**: a script that imports httpx and sends, per host, what ``plan`` sends (one
  version, one model list, the base's and the 50 models' /api/show, ``--concurrency`` at a time,
  each answer parsed as JSON) and nothing else;
* **packages + requests**: the same after importing what modelctl needs to know which models to
  ask for (click, PyYAML, jinja2, pydantic with a model built);
* ``modelctl plan p00.yaml ... --host ...`` itself.

Reported: each one's minimum and median ratio to the ideal (``python -c pass`` plus
⌈requests / concurrency⌉ x latency, bench_plan's), pairs of the same round. The second line is the
floor for the plan target (median <= 1.5 x): a client that must import these packages before it
can name a model cannot go below it, whatever it does.

    python bench/bench_floor.py                 # one host
    python bench/bench_floor.py --hosts 3       # bench_fleet's case
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._util import modelctl_cmd, paired, ratios  # noqa: E402
from bench.bench_plan import Child, run_env, write_profiles  # noqa: E402

CLIENT = """
import json, sys, threading
if sys.argv[1] == "1":
    import click, jinja2, yaml  # noqa: F401
    from pydantic import BaseModel, ConfigDict

    class Profile(BaseModel):
        model_config = ConfigDict(strict=True, extra="forbid")
        name: str
        temperature: float | None = None

    Profile.model_validate({"name": "p00", "temperature": 0.5})
sys.modules.setdefault("httpx._main", None)
import httpx

conc, n = int(sys.argv[2]), int(sys.argv[3])


def host(url):
    client = httpx.Client(base_url=url, limits=httpx.Limits(max_connections=conc))
    todo = iter(["/api/version", "/api/tags", "llama3.2:3b", *(f"p{i:02d}" for i in range(n))])
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                what = next(todo, None)
            if what is None:
                return
            if what.startswith("/"):
                json.loads(client.get(what).text)
            else:
                json.loads(client.post("/api/show", json={"model": what}).text)

    workers = [threading.Thread(target=worker) for _ in range(conc)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


hosts = [threading.Thread(target=host, args=(u,)) for u in sys.argv[4:]]
for h in hosts:
    h.start()
for h in hosts:
    h.join()
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profiles", type=int, default=50)
    ap.add_argument("--hosts", type=int, default=1)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        refs = write_profiles(Path(tmp), args.profiles)
        children = [Child(args.profiles, args.latency) for _ in range(args.hosts)]
        urls = [c.url for c in children]
        py, n, c = sys.executable, str(args.profiles), str(args.concurrency)
        hosts = [arg for u in urls for arg in ("--host", u)]
        try:
            cmds = {
                "python -c pass": [py, "-c", "pass"],
                "requests only": [py, "-c", CLIENT, "0", c, n, *urls],
                "packages + requests": [py, "-c", CLIENT, "1", c, n, *urls],
                "modelctl plan": [*modelctl_cmd(), "plan", *refs, *hosts, "--concurrency", c, "-q"],
            }
            samples = paired(cmds, runs=args.rounds, env=run_env(Path(tmp)))
        finally:
            for child in children:
                child.close()
    requests = args.profiles + 3
    ideal = math.ceil(requests / args.concurrency) * args.latency
    ideals = [s + ideal for s in samples["python -c pass"]]
    print(
        f"{args.profiles} profiles on {args.hosts} host(s), {args.latency * 1000:.0f} ms latency, concurrency "
        f"{args.concurrency}: ideal {ideal:.3f} s + python -c pass {statistics.median(samples['python -c pass']):.3f} s"
    )
    for name in ("requests only", "packages + requests", "modelctl plan"):
        lo, med = ratios(samples[name], ideals)
        wall = statistics.median(samples[name])
        print(f"  {name:20s} median {wall:.3f} s   ratio to the ideal: median {med:.2f} x, minimum {lo:.2f} x")


if __name__ == "__main__":
    main()
