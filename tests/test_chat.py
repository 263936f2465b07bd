"""``run`` without a prompt on a terminal: a chat, driven through a pseudo-terminal as a person
would (history kept, /set parameter, /show parameters, /save, Ctrl-C stops an answer and the
chat goes on, Ctrl-D ends it); and the one function that derives a profile from changed settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelctl.errors import InvalidInput
from modelctl.ollama.wire import same_value
from modelctl.profile.derive import derive_profile
from modelctl.profile.profile import load_profile
from tests.fixtures_pty import PtyProcess, plain
from tests.ollama_double import OllamaDouble


def _chat(double: OllamaDouble, cwd: Path, *args: str) -> PtyProcess:
    p = PtyProcess.modelctl("run", *args, host=double.url, env={"NO_COLOR": "1"}, cwd=cwd)
    p.expect(">>> ")
    return p


def _say(p: PtyProcess, line: str, since: int) -> int:
    """Type ``line``, wait for the next prompt; where the output after it starts."""
    p.send(line + "\r")
    return p.expect(">>> ", since=p.expect(line, since=since))


def test_a_chat_keeps_the_history_sets_parameters_and_saves_a_profile(
    built_double: OllamaDouble, chef_dir: Path
) -> None:
    p = _chat(built_double, chef_dir, "creative", "--verbose")
    at = _say(p, "Give me a soup", 0)
    at = _say(p, "And a dessert?", at)
    at = _say(p, "/set parameter temperature 0.3", at)
    at = _say(p, "/set parameter temprature 1", at)
    at = _say(p, "/show parameters", at)
    at = _say(p, "/save profiles/cool.yaml", at)
    at = _say(p, "One more", at)
    p.send("\x04")
    assert p.wait() == 0
    out = plain(p.output)
    assert "Set parameter 'temperature' to '0.3'" in out
    assert out.count("\neval count:") == 3  # --verbose: what `ollama run --verbose` prints, after each answer
    assert "unknown parameter 'temprature' (did you mean 'temperature'?)" in out
    shown = out.split("/show parameters", 1)[1]
    assert "Model defined parameters:" in shown and "User defined parameters:" in shown
    assert f"  {'temperature':<30} 0.3" in shown.split("User defined parameters:")[1]
    assert "Saved profiles/cool.yaml: creative.yaml with temperature 0.3 (model name cool)" in out
    chats = [c["json"] for c in built_double.state.calls("/api/chat")]
    assert len(chats) == 3
    roles = [m["role"] for m in chats[1]["messages"]]
    assert [m["content"] for m in chats[1]["messages"] if m["role"] == "user"] == ["Give me a soup", "And a dessert?"]
    assert roles[-3:] == ["user", "assistant", "user"]  # the first turn's answer travels with the second
    assert "options" not in chats[1] and chats[2]["options"] == {"temperature": 0.3}
    saved = (chef_dir / "profiles" / "cool.yaml").read_text(encoding="utf-8")
    assert "extends: creative.yaml" in saved and "temperature: 0.3" in saved
    cool = load_profile(str(chef_dir / "profiles" / "cool.yaml")).profile
    assert cool.name == "cool" and cool.parameters.as_dict()["temperature"] == 0.3
    assert cool.parameters.as_dict()["top_k"] == 80  # the rest comes from creative.yaml


def test_ctrl_c_stops_the_answer_not_the_chat(built_double: OllamaDouble, chef_dir: Path) -> None:
    built_double.state.token_delay = 0.05
    p = _chat(built_double, chef_dir, "precise")
    p.send("Tell me everything\r")
    p.expect(" ", since=p.expect("Tell me everything"))  # the answer has started
    p.send("\x03")
    at = p.expect(">>> ", since=p.expect("(stopped)"))
    built_double.state.token_delay = 0.0
    at = _say(p, "Still there?", at)
    p.send("\x04")
    assert p.wait() == 0
    chats = [c["json"] for c in built_double.state.calls("/api/chat")]
    # the stopped answer is not in the history; the question stays, as in `ollama run`
    assert [m["role"] for m in chats[-1]["messages"]][-2:] == ["user", "user"]


def test_without_a_terminal_run_still_reads_the_prompt_from_stdin(built_double: OllamaDouble, chef_dir: Path) -> None:
    r = built_double.run_cli("run", "precise", input="Soup?", cwd=chef_dir)
    assert r.returncode == 0 and r.stdout.strip()


def test_derive_writes_only_what_differs(chef_dir: Path) -> None:
    base = load_profile(str(chef_dir / "profiles" / "creative.yaml"))
    target = chef_dir / "elsewhere" / "warm.yaml"
    target.parent.mkdir()
    d = derive_profile(base, target, parameters={"temperature": 1.1, "top_k": 81, "seed": 42}, system="Be brief.")
    assert d.data == {
        "name": "warm", "extends": "../profiles/creative.yaml", "system": "Be brief.", "parameters": {"top_k": 81},
    }  # fmt: skip
    d.save()
    again = load_profile(str(target)).profile
    assert again.parameters.as_dict()["top_k"] == 81 and again.messages == base.profile.messages
    with pytest.raises(InvalidInput, match="is the profile it would extend"):
        derive_profile(base, chef_dir / "profiles" / "creative.yaml", parameters={"top_k": 1})
    with pytest.raises(InvalidInput, match="not a valid Ollama model name"):
        derive_profile(base, chef_dir / "bad name!.yaml")


_VALUES = {
    "temperature": st.floats(min_value=0, max_value=2, allow_nan=False, width=32),
    "top_k": st.integers(min_value=1, max_value=200),
    "seed": st.integers(min_value=-1, max_value=2**31),
    "stop": st.lists(st.text(alphabet="abc<|>", min_size=1, max_size=5), min_size=1, max_size=3),
}


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.fixed_dictionaries({}, optional=_VALUES))
def test_a_derived_profile_loads_as_the_base_with_the_changes(chef_dir: Path, changes: dict[str, object]) -> None:
    """Whatever changed, the derived profile loads to the base's values updated with the changes,
    and names only the ones that differ."""
    base = load_profile(str(chef_dir / "profiles" / "creative.yaml"))
    d = derive_profile(base, chef_dir / "profiles" / "derived.yaml", parameters=changes)
    want = {**base.profile.parameters.as_dict(), **changes}
    got = d.loaded.profile.parameters.as_dict()
    assert set(got) == set(want)
    assert all(same_value(k, got[k], want[k]) for k in want)
    assert set(d.data.get("parameters", {})) <= set(changes)


def test_derive_rebases_a_local_base_in_another_folder(chef_dir: Path) -> None:
    base = load_profile(str(chef_dir / "profiles" / "local.yaml"))
    target = chef_dir / "mine" / "faster.yaml"
    target.parent.mkdir()
    d = derive_profile(base, target, parameters={"temperature": 0.9})
    assert d.data["from"] == "../profiles/weights.gguf"
    assert d.loaded.profile.base_path() == (chef_dir / "profiles" / "weights.gguf").resolve()
