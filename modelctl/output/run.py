"""Writer for ``run``: the answer streamed as it arrives, then ``--verbose`` statistics."""

from __future__ import annotations

import sys
from typing import IO

from modelctl.common import escape
from modelctl.common.events import Event, Notice, Token
from modelctl.common.units import go_duration
from modelctl.errors import ExitCode
from modelctl.jobs.run import RunReport, RunResult
from modelctl.output import Result
from modelctl.output.term import print_diagnostic


class AnswerPrinter:
    """The ``on_event`` of a streamed ``run``: tokens to stdout as they come, notices to stderr."""

    def __init__(self, *, stream: bool, quiet: bool, out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self.stream = stream
        self.quiet = quiet
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.wrote = False
        self.last = ""

    def __call__(self, event: Event) -> None:
        if isinstance(event, Notice) and self.stream and not self.quiet:
            print_diagnostic("warning", event.diagnostic.format(), self.err)
        elif isinstance(event, Token) and self.stream and event.text:
            self.out.write(escape.text(event.text))  # a server's words: ESC ] 52 never reaches the terminal
            self.out.flush()
            self.wrote = True
            self.last = event.text

    def end_line(self) -> None:
        """A streamed answer ends with a line break (also when it was interrupted)."""
        if self.wrote and not self.last.endswith("\n"):
            self.out.write("\n")
            self.out.flush()


def verbose_lines(res: RunResult) -> list[str]:
    """What ``ollama run --verbose`` prints (same labels and formats), plus TTFT and done_reason."""
    m = res.metrics
    out: list[str] = []
    if m.get("total_duration"):
        out.append(f"total duration:       {go_duration(m['total_duration'])}")
    if m.get("load_duration"):
        out.append(f"load duration:        {go_duration(m['load_duration'])}")
    out += _rate_lines("prompt eval", m.get("prompt_eval_count"), m.get("prompt_eval_duration"))
    out += _rate_lines("eval", m.get("eval_count"), m.get("eval_duration"))
    ttft = "-" if res.ttft_s is None else go_duration(round(res.ttft_s * 1e9))
    out.append(f"time to first token:  {ttft}")
    out.append(f"done reason:          {res.done_reason or '-'}")
    return out


def _rate_lines(what: str, count: int | None, duration: int | None) -> list[str]:
    pad = " " * (len("prompt eval") - len(what))
    out = []
    if count:
        out.append(f"{what} count:{pad}    {count} token(s)")
    if duration:
        out.append(f"{what} duration:{pad} {go_duration(duration)}")
        out.append(f"{what} rate:{pad}     {(count or 0) / (duration / 1e9):.2f} tokens/s")
    return out


def run_result(report: RunReport, *, streamed: bool, verbose: bool, err: IO[str] | None = None) -> Result:
    """After a streamed answer: ``--verbose`` lines to stderr, no data; else the whole answer as JSON."""
    if streamed:
        if verbose:
            stream = err if err is not None else sys.stderr
            stream.write("\n" + "".join(line + "\n" for line in verbose_lines(report.result)))
        notices = [w for w in report.warnings if w not in report.target.warnings]  # the others went first
        return Result(data=None, text="", warnings=notices)
    return Result(data=report.to_dict(), text="", exit_code=ExitCode.OK, warnings=report.warnings)
