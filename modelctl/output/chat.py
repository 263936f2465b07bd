"""The chat loop of ``run`` on a terminal: read a line, stream the answer, handle ``/`` commands.

Presentation around :class:`modelctl.jobs.chat.ChatSession` (which holds the conversation and
sends the requests). As in ``ollama run``: ``>>>`` prompts, ``\"\"\"`` starts and ends a
multi-line message, ``/set parameter NAME VALUE``, ``/set system TEXT``, ``/show parameters``,
``/show system``, ``/clear``, ``/save FILE.yaml`` (here a profile, not a model), ``/bye``;
Ctrl-D ends the chat, Ctrl-C stops an answer (or clears the line) and the chat goes on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO

from modelctl.common import escape
from modelctl.common.units import format_value
from modelctl.errors import ExitCode, ModelctlError
from modelctl.jobs.chat import ChatSession
from modelctl.output.run import verbose_lines
from modelctl.profile.derive import DerivedProfile

HELP = """\
Available Commands:
  /set parameter NAME VALUE   Set a parameter for this chat (e.g. /set parameter temperature 0.3)
  /set system TEXT            Set the system message
  /show parameters            The model's parameters and the ones set in this chat
  /show system                The system message in force
  /save FILE.yaml             Save this chat's settings as a profile that extends the one you started with
  /save! FILE.yaml            The same, replacing FILE.yaml when it exists (/save never does)
  /clear                      Forget the conversation so far
  /bye                        Exit (or Ctrl-D)
  /?, /help                   This help

Use \"\"\" to begin and end a multi-line message. Ctrl-C stops an answer; the chat goes on.
"""


class ChatLoop:
    """Reads lines with ``read`` (``input``, with readline's editing and history on a terminal)
    and writes to ``out``; one instance per chat."""

    def __init__(
        self,
        session: ChatSession,
        *,
        read: Callable[[str], str] = input,
        out: IO[str] | None = None,
        verbose: bool = False,
    ) -> None:
        self.session = session
        self.read = read
        self.out = out if out is not None else sys.stdout
        self.verbose = verbose  # after each answer, what `ollama run --verbose` prints

    def say(self, text: str) -> None:
        self.out.write(escape.text(text) + "\n")
        self.out.flush()

    def run(self) -> ExitCode:
        for w in self.session.warnings:
            self.say(f"warning: {w.format()}")
        self.say(f"Chatting with {self.session.target.model}. Send a message (/? for help, Ctrl-D to end).")
        while True:
            try:
                line = self._message()
            except EOFError:
                self.say("")
                return ExitCode.OK
            except KeyboardInterrupt:
                self.say("\nUse Ctrl + d or /bye to exit.")
                continue
            if line is None:
                continue
            if line.strip() in ("/bye", "/exit"):
                return ExitCode.OK
            if line.startswith("/"):
                self.command(line)
            elif line.strip():
                self.turn(line)

    def _message(self) -> str | None:
        """One message: a line, or the lines between two ``\"\"\"``."""
        line = self.read(">>> ")
        if not line.startswith('"""'):
            return line
        text = line[3:]
        if text.endswith('"""') and len(text) >= 3:
            return text[:-3]
        lines = [text]
        while True:
            more = self.read("... ")
            if more.endswith('"""'):
                lines.append(more[:-3])
                return "\n".join(lines)
            lines.append(more)

    def turn(self, prompt: str) -> None:
        wrote = ""

        def token(piece: str) -> None:
            nonlocal wrote
            self.out.write(escape.text(piece))
            self.out.flush()
            wrote = piece or wrote

        try:
            result = self.session.send(prompt, on_token=token)
        except KeyboardInterrupt:
            self.say("" if wrote.endswith("\n") else "\n(stopped)")
            return
        except ModelctlError as exc:
            self.say(("\n" if wrote and not wrote.endswith("\n") else "") + f"error: {exc.diagnostic().format()}")
            return
        self.say("" if wrote.endswith("\n") else "\n")
        if self.verbose:
            self.say("\n".join(verbose_lines(result)) + "\n")

    def command(self, line: str) -> None:
        words = line.split()
        head, args = words[0], words[1:]
        handlers: dict[str, Callable[[list[str], str], None]] = {
            "/set": self._set,
            "/show": self._show,
            "/save": self._save,
            "/save!": self._save,
            "/clear": self._clear,
            "/?": lambda _a, _l: self.say(HELP),
            "/help": lambda _a, _l: self.say(HELP),
        }
        handler = handlers.get(head)
        if handler is None:
            self.say(f"Unknown command '{head}'. Type /? for help")
            return
        try:
            handler(args, line)
        except ModelctlError as exc:
            self.say(f"error: {exc.diagnostic().format()}")

    def _clear(self, _args: list[str], _line: str) -> None:
        self.session.clear()
        self.say("Cleared session context")

    def _set(self, args: list[str], line: str) -> None:
        if len(args) >= 2 and args[0] == "parameter":
            value = self.session.set_parameter(args[1], args[2:])
            self.say(f"Set parameter '{args[1]}' to '{format_value(value)}'")
        elif args and args[0] == "system":
            text = line.split(None, 2)[2] if len(args) > 1 else ""
            self.session.set_system(text.strip().removeprefix('"""').removesuffix('"""'))
            self.say("Set system message.")
        else:
            self.say("Usage:\n  /set parameter NAME VALUE\n  /set system TEXT")

    def _show(self, args: list[str], _line: str) -> None:
        if args[:1] == ["parameters"]:
            self.say("Model defined parameters:")
            stored = self.session.model_parameters()
            if not stored:
                self.say("  No additional parameters were specified for this model.")
            for name, value in stored.items():
                for v in value if isinstance(value, list) else [value]:
                    self.say(f"  {name:<30} {format_value(v)}")
            user = self.session.user_parameters()
            if user:
                self.say("\nUser defined parameters:")
                for name, value in user.items():
                    self.say(f"  {name:<30} {format_value(value)}")
            self.say("")
        elif args[:1] == ["system"]:
            self.say(self.session.system_prompt() or "No system message was specified for this model.")
        else:
            self.say("Usage:\n  /show parameters\n  /show system")

    def _save(self, args: list[str], line: str) -> None:
        if len(args) != 1:
            self.say("Usage:\n  /save FILE.yaml\n  /save! FILE.yaml   (replace FILE.yaml when it exists)")
            return
        derived = self.session.derive(args[0], replace=line.split()[0] == "/save!")
        derived.save()
        self.say(saved_line(args[0], derived))


def saved_line(path: str, derived: DerivedProfile) -> str:
    """``Saved FILE: BASE with temperature 0.3 (model name NAME)``: a derived profile written."""
    what = ", ".join(f"{k.removeprefix('parameters.')} {format_value(v)}" for k, v in derived.changed.items())
    base = derived.data.get("extends") or derived.data.get("from")
    return f"Saved {path}: {base} with {what or 'nothing changed'} (model name {derived.data['name']})"


def chat_loop(session: ChatSession, *, verbose: bool = False) -> ExitCode:
    """The chat on this terminal (readline's line editing and history when it is there)."""
    try:
        import readline  # noqa: F401 - input() edits lines and keeps history once it is loaded
    except ImportError:  # pragma: no cover - not on every platform
        pass
    return ChatLoop(session, verbose=verbose).run()
