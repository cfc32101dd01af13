"""The fault kinds of `vending simulate --faults` (light: the command line reads it)."""

from __future__ import annotations

__all__ = ["FAULT_KINDS", "parse_faults"]

FAULT_KINDS = ("crash", "disk", "net", "clock")


def parse_faults(text: str) -> frozenset[str]:
    """`all`, `none`, or a comma list of kinds."""
    if text == "all":
        return frozenset(FAULT_KINDS)
    if text in ("none", ""):
        return frozenset()
    kinds = frozenset(k.strip() for k in text.split(","))
    unknown = kinds - set(FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kind(s): {', '.join(sorted(unknown))}; "
                         f"use all, none or a comma list of {', '.join(FAULT_KINDS)}")
    return kinds
