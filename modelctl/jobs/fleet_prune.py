"""``build --prune`` on every host of a run: each host's stale lock entries judged for that host.

The hosts are the run's (``--host`` values, an inventory's, or the default server), each with its
own session, asked at once as :func:`modelctl.jobs.fleet.on_hosts` does. A host that is down or fails
is that host's error (with one host it raises, as every one-host job does); the lock file is
written once, after every host is done, with the entries of the models that went.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from modelctl.errors import Diagnostic, ExitCode, JobResult
from modelctl.jobs.fleet import HostRun, on_hosts
from modelctl.jobs.lock import read_lock
from modelctl.jobs.prune import PruneResult, drop_entries, prune_on
from modelctl.ollama.session import session_for
from modelctl.profile.inventory import host_label, select_hosts


@dataclass
class PruneRun(JobResult):
    """Every host's pruning in one run, and the run's warnings."""

    runs: list[HostRun[PruneResult]]
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def results(self) -> list[PruneResult]:
        return [r.result for r in self.runs if r.result is not None]

    def outcome_codes(self) -> list[ExitCode]:
        codes = [r.error.exit_code for r in self.runs if r.error is not None]
        return [*codes, *(r.exit_code() for r in self.results)]


def prune_hosts(
    lock: str | os.PathLike[str],
    *,
    hosts: Sequence[str] = (),
    inventory: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    force: bool = False,
    timeout: float | None = None,
) -> PruneRun:
    """Prune every host of the run (see the module docstring)."""
    the_lock = read_lock(lock, missing_ok=True)
    selection = select_hosts(hosts, inventory)
    runs: list[HostRun[PruneResult]] = [HostRun(h, host_label(h), []) for h in selection.hosts]
    out = PruneRun(runs)
    if not the_lock.found:
        out.warnings.append(
            Diagnostic("lock_missing", f"no lock yet: {the_lock.path} does not exist; nothing to prune", str(lock))
        )
        return out

    def job(run: HostRun[PruneResult]) -> PruneResult:
        with session_for(run.host, timeout=timeout) as session:
            return prune_on(session, the_lock, dry_run=dry_run, force=force)

    if len(runs) == 1:
        runs[0].result = job(runs[0])  # one host: its error is the run's
    else:
        on_hosts(runs, job)
    if not dry_run:
        drop_entries(the_lock.path, [x for r in out.results for x in r.removals])
    return out
