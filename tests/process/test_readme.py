"""README.md as written: its shell walkthrough and its client script, run against a
fresh `vending serve`, print what the README shows. Both are read from README.md,
so the test breaks when the README drifts from the code."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tools.serverproc import ServerProcess

README = Path(__file__).resolve().parents[2] / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    return text[start:text.index("\n## ", start + 1)]


def _blocks(section: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", section, re.DOTALL)


SHELL_STORIES = ("A buyer and a seller, from a shell",
                 "Finding products, your history, your password, health")


def walkthrough(title: str = SHELL_STORIES[0]) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) from the console block of README section `title`."""
    steps: list[tuple[str, list[str]]] = []
    for line in _blocks(_section(title), "console")[0].splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif line.strip():
            steps[-1][1].append(line)
    return steps


def _squeeze(lines: list[str]) -> list[str]:
    return [" ".join(line.split()) for line in lines if line.strip()]


def run_walkthrough(endpoint: str, cwd: Path,
                    title: str = SHELL_STORIES[0]) -> list[tuple[str, list[str]]]:
    """Each README command run as a shell would, with its combined output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENDING_")}
    env["VENDING_ENDPOINT"] = endpoint
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    seen: list[tuple[str, list[str]]] = []
    for command, _ in walkthrough(title):
        if command.startswith("export "):
            name, _, value = command[len("export "):].partition("=")
            env[name] = shlex.split(value)[0]
            seen.append((command, []))
            continue
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                              timeout=60, cwd=cwd, env=env, stdin=subprocess.DEVNULL)
        assert "Traceback" not in done.stderr, (command, done.stderr)
        seen.append((command, (done.stdout + done.stderr).splitlines()))
    return seen


def test_the_shell_walkthrough_prints_what_the_readme_shows(
        serve: Callable[..., ServerProcess], tmp_path: Path) -> None:
    served = serve(tmp_path / "data")
    work = tmp_path / "work"
    work.mkdir()
    expected = walkthrough()
    assert any(cmd.startswith("vending buy") for cmd, _ in expected)
    got = run_walkthrough(served.endpoint, work)
    for (command, want), (_, have) in zip(expected, got, strict=True):
        assert _squeeze(have) == _squeeze(want), f"$ {command}"


def test_the_new_ops_walkthrough_prints_what_the_readme_shows(
        serve: Callable[..., ServerProcess], tmp_path: Path) -> None:
    served = serve(tmp_path / "data")
    work = tmp_path / "work"
    work.mkdir()
    expected = walkthrough(SHELL_STORIES[1])
    assert any(cmd.startswith("vending passwd") for cmd, _ in expected)
    got = run_walkthrough(served.endpoint, work, SHELL_STORIES[1])
    for (command, want), (_, have) in zip(expected, got, strict=True):
        assert _squeeze(have) == _squeeze(want), f"$ {command}"


def test_the_client_script_prints_what_the_readme_shows_twice(
        serve: Callable[..., ServerProcess], tmp_path: Path) -> None:
    section = _section("A client script")
    script = _blocks(section, "python")[0]
    shown = _blocks(section, "text")[0]
    assert "tcp://127.0.0.1:5555" in script
    served = serve(tmp_path / "data")  # empty: the script must stock it itself
    script = script.replace("tcp://127.0.0.1:5555", served.endpoint)
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert _squeeze(done.stdout.splitlines()) == _squeeze(shown.splitlines())
