"""`vending ... --help`: every option says what it does and what its default is."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from cli.main import build_parser


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("vending has no subcommands")


def _undocumented(parser: argparse.ArgumentParser) -> list[str]:
    formatter = parser._get_formatter()
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        if not action.option_strings and action.nargs != "?":
            continue  # a required positional has no default to state
        if action.help == argparse.SUPPRESS:
            continue  # hidden: an old spelling kept working
        text = formatter._get_help_string(action) or ""
        if "default" not in text:
            missing.append("/".join(action.option_strings) or action.dest)
    return missing


@pytest.mark.parametrize("command", sorted(_subcommands(build_parser())))
def test_every_option_states_its_default(command: str) -> None:
    parser = _subcommands(build_parser())[command]
    assert _undocumented(parser) == [], f"vending {command}: options without a default"


def test_the_printed_help_shows_the_defaults() -> None:
    done = subprocess.run([sys.executable, "-m", "cli", "chaos", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "(default: 20)" in " ".join(done.stdout.split())  # --cycles


def _help_texts(parser: argparse.ArgumentParser) -> dict[str, str]:
    formatter = parser._get_formatter()
    return {"/".join(a.option_strings) or a.dest: formatter._get_help_string(a) or ""
            for a in parser._actions if a.help not in (None, argparse.SUPPRESS)}


@pytest.mark.parametrize("command", sorted(_subcommands(build_parser())))
def test_defaults_are_written_one_way(command: str) -> None:
    for option, text in _help_texts(_subcommands(build_parser())[command]).items():
        assert not re.search(r"\bdefault (?!on update)", text), (command, option, text)
        assert ") (" not in text, (command, option, text)  # one bracket: "(env X; default: Y)"


def test_the_password_help_names_every_source() -> None:
    text = _help_texts(_subcommands(build_parser())["login"])["--password"]
    assert "VENDING_PASSWORD" in text and "stdin" in text and "terminal" in text


def test_the_printed_help_writes_defaults_with_a_colon() -> None:
    done = subprocess.run([sys.executable, "-m", "cli", "bench", "--help"],
                          capture_output=True, text=True, timeout=60)
    flat = " ".join(done.stdout.split())
    assert "(default: 32)" in flat and "(default 32)" not in flat  # --clients
