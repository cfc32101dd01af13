"""Which characters a shown name may hold: by Unicode category (docs/protocol.md §6).

A product name is shown to every buyer, so it must show what it is: no
control, format, separator, private-use, unassigned or surrogate characters
(categories Cc, Cf, Zl, Zp, Co, Cn, Cs), no invisible fillers, and at least one
visible character. One exception: U+200D ZERO WIDTH JOINER between two
pictographs, which joins emoji sequences such as a family (docs/design.md,
"Readings").
"""

from __future__ import annotations

import unicodedata

__all__ = ["INVISIBLE_FILLERS", "name_fault"]

#: Categories never in a name: control, format, line and paragraph separators,
#: private use, unassigned, surrogates.
_REFUSED = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"})
ZWJ = "\u200d"
#: Letters and symbols that show nothing: the Hangul fillers, the braille blank,
#: the combining grapheme joiner and the Khmer inherent vowels (Unicode calls
#: both "not recommended"). U+180E is Cf already.
INVISIBLE_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5")
#: What may stand between a pictograph and a ZWJ: emoji presentation (VS16) and
#: the skin-tone modifiers.
_EMOJI_TAIL = frozenset("\ufe0f" + "".join(map(chr, range(0x1F3FB, 0x1F400))))
#: Pictographs, approximately Unicode's Extended_Pictographic (TR51), which the
#: stdlib's unicodedata does not carry: the emoji and symbol blocks.
_PICTOGRAPHIC = ((0x1F000, 0x1FAFF), (0x2300, 0x23FF), (0x2600, 0x27BF),
                 (0x2B00, 0x2BFF), (0x2190, 0x21FF), (0x3030, 0x3030), (0x303D, 0x303D),
                 (0x3297, 0x3299), (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C),
                 (0x2049, 0x2049), (0x2122, 0x2122), (0x2139, 0x2139))


def _pictographic(ch: str) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in _PICTOGRAPHIC)


def _joins_pictographs(text: str, at: int) -> bool:
    """Whether the ZWJ at `at` stands between two pictographs (an emoji sequence)."""
    before = at - 1
    while before >= 0 and text[before] in _EMOJI_TAIL:
        before -= 1
    return (before >= 0 and _pictographic(text[before])
            and at + 1 < len(text) and _pictographic(text[at + 1]))


def _visible(ch: str) -> bool:
    """A letter, number, punctuation or symbol that shows something."""
    return unicodedata.category(ch)[0] in "LNPS" and ch not in INVISIBLE_FILLERS


def name_fault(text: str) -> str | None:
    """Why `text` cannot be a shown name, or None when it can.

    Runs in whichever thread parses the request (the front door's).
    """
    for at, ch in enumerate(text):
        category = unicodedata.category(ch)
        if category in _REFUSED and not (ch == ZWJ and _joins_pictographs(text, at)):
            return f"must not contain U+{ord(ch):04X} (Unicode category {category})"
        if ch in INVISIBLE_FILLERS:
            return f"must not contain U+{ord(ch):04X} (an invisible filler)"
    if not any(map(_visible, text)):
        return "must contain a visible character (not only spaces or marks)"
    return None
