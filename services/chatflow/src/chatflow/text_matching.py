"""Normalised text for keyword triggers: case, Arabic letter forms, diacritics and digits.

Customers type "مرحبا", "مرحباً" or "مرحبآ" and "٣" or "3" for the same thing; keywords match all.
"""

from __future__ import annotations

import re
import unicodedata

# Tashkeel (fathatan .. sukun), superscript alef, Quranic marks, and tatweel (kashida).
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_LETTERS = str.maketrans(
    {
        "\u0623": "\u0627",  # alef with hamza above -> alef
        "\u0625": "\u0627",  # alef with hamza below -> alef
        "\u0622": "\u0627",  # alef with madda -> alef
        "\u0671": "\u0627",  # alef wasla -> alef
        "\u0649": "\u064a",  # alef maksura -> ya
        "\u0629": "\u0647",  # ta marbuta -> ha
        **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
        **{chr(0x06F0 + d): str(d) for d in range(10)},  # Eastern Arabic-Indic digits
    }
)
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lower case, NFKC, Arabic letter forms folded, diacritics dropped, spaces collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = _DIACRITICS.sub("", folded).translate(_LETTERS)
    return _SPACES.sub(" ", folded).strip()


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` does not compile (None when it does); never raises.

    `re.compile` raises more than `re.error`: OverflowError for a repeat count past its limit
    (`a{99999999999}`) and RecursionError for absurd nesting. Every one is bad input to refuse
    with a 422, not a 500.
    """
    try:
        re.compile(pattern)
    except re.error as error:
        return error.msg
    except OverflowError:
        return "a repeat count is too large"
    except RecursionError:
        return "the pattern is nested too deeply"
    return None
