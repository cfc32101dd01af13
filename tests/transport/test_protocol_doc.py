"""docs/protocol.md is the contract client authors read: keep it in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

from transport.codec import encode
from vending.errors import CODES
from vending.requests import OPS, STATE_CHANGING_OPS

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _ops_table_rows() -> set[str]:
    return set(re.findall(r"^\| `([a-z_]+)`(?: \(\w+\))? \|", _text(), re.MULTILINE))


def test_every_op_the_server_knows_has_a_row() -> None:
    rows = _ops_table_rows()
    assert rows >= OPS, f"ops missing from docs/protocol.md: {sorted(OPS - rows)}"


def test_every_error_code_has_a_row() -> None:
    rows = set(re.findall(r"^\| `([A-Z_]+)` \|", _text(), re.MULTILINE))
    assert set(CODES) <= rows, f"codes missing: {sorted(set(CODES) - rows)}"


def test_the_state_changing_ops_are_listed_as_such() -> None:
    section = _text().split("## 4.")[1].split("## 5.")[0]
    listed = set(re.findall(r"`(\w+)`", section.split("Read-only")[0]))
    assert listed >= STATE_CHANGING_OPS


def test_the_ops_table_documents_no_op_the_server_refuses() -> None:
    assert _ops_table_rows() <= OPS


def test_the_worked_exchange_bytes_are_real_msgpack() -> None:
    text = _text()
    request = "".join(re.findall(r"^((?:[0-9a-f]{2} )+)", text.split("## 8.")[1]
                                 .split("The reply")[0], re.MULTILINE)).split()
    assert bytes.fromhex("".join(request)) == encode({"op": "ping", "req_id": "p1"})
    reply_hex = re.search(r"```\n(83 [0-9a-f ]+)\n```", text)
    assert reply_hex is not None
    assert bytes.fromhex(reply_hex.group(1).replace(" ", "")) == \
        encode({"ok": True, "version": "0.1.0", "req_id": "p1"})
