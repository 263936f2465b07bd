"""``modelctl push``'s text and JSON."""

from __future__ import annotations

from modelctl.jobs.push import PushResult
from modelctl.output import Result


def push_result(result: PushResult) -> Result:
    lines = []
    for m in result.models:
        via = f" (the model of {m.profile})" if m.profile else ""
        lines.append(f"pushed {m.source}{via} as {m.reference}")
        lines.append(f"  digest {m.digest}")
    if result.lock:
        lines.append(f"recorded in {result.lock}")
    return Result(data=result.to_dict(), text="".join(line + "\n" for line in lines))
