"""Arabic/English text normalisation, language detection and the tokenizer of the AI answerer.

Normalisation makes the many spellings of one Arabic word compare equal: diacritics (tashkeel)
and tatweel removed, alef forms (أ إ آ ٱ) → ا, ى → ي, ة → ه, ؤ → و, ئ → ي; Arabic-Indic and
Persian digits become ASCII; Latin text is casefolded. Tokens are runs of letters or digits;
light stemming strips the Arabic article and its attached prepositions (وال، بال، ...) and the
English plural "s", so "الدوام" finds "دوام" and "hours" finds "hour".
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Language = Literal["ar", "en"]

# U+064B..U+065F harakat and marks, U+0670 superscript alef, Quranic marks U+06D6..U+06ED.
_TASHKEEL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed]")
_TATWEEL = "\u0640"
_LETTER_MAP = str.maketrans(
    {
        "\u0623": "\u0627",  # أ
        "\u0625": "\u0627",  # إ
        "\u0622": "\u0627",  # آ
        "\u0671": "\u0627",  # ٱ
        "\u0649": "\u064a",  # ى → ي
        "\u0629": "\u0647",  # ة → ه
        "\u0624": "\u0648",  # ؤ → و
        "\u0626": "\u064a",  # ئ → ي
        "\u06cc": "\u064a",  # Persian ya
        "\u06a9": "\u0643",  # Persian kaf
        _TATWEEL: None,
        **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
        **{chr(0x06F0 + d): str(d) for d in range(10)},  # Persian (extended) digits
        "\u066b": ".",  # Arabic decimal separator
        "\u066c": ",",  # Arabic thousands separator
        "\u060c": ",",  # Arabic comma
        "\u061f": "?",  # Arabic question mark
    }
)
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3]")
_LATIN_LETTER = re.compile("[A-Za-z]")
# Longest first: the article with its attached conjunction or preposition.
_ARABIC_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال")


def normalise(text: str) -> str:
    """The text with Arabic variants unified, digits made ASCII and Latin casefolded."""
    text = unicodedata.normalize("NFKC", text)
    text = _TASHKEEL.sub("", text)
    return text.translate(_LETTER_MAP).casefold()


def _words(text: str) -> frozenset[str]:
    return frozenset(normalise(word) for word in text.split())


# Written as people spell them; normalised like the text they are compared with. Greetings and
# "I want / please" carry no topic, so they never make a question look answered.
ARABIC_STOP_WORDS = _words("""
    في من على إلى عن مع هل ما ماذا متى أين كيف كم هو هي هم أنا انت نحن هذا هذه ذلك تلك التي
    الذي الذين أو ثم لا لم لن قد كان كانت يكون تكون أن إن عند كل بعض أي لي لك لكم عندكم عندك
    لديكم يا و ب ل ك ف أريد ابغى ابي بدي ممكن لو سمحت فضلك شكرا مرحبا السلام عليكم اعرف
""")
ENGLISH_STOP_WORDS = _words("""
    a an the and or but if of to in on at by for with from as is are was were be been being do
    does did have has had i you he she it we they me my your our their this that these those
    what which who whom when where why how can could would should will shall may might must am
    not no so than too very just about into over there here any some please hi hello thanks
    thank want need know like tell get
""")
STOP_WORDS = ARABIC_STOP_WORDS | ENGLISH_STOP_WORDS


def arabic_share(text: str) -> float:
    """The share of letters in `text` that are Arabic script (0.0 with no letters)."""
    arabic = len(_ARABIC_LETTER.findall(text))
    latin = len(_LATIN_LETTER.findall(text))
    return arabic / (arabic + latin) if arabic + latin else 0.0


def detect_language(text: str, default: Language = "en") -> Language:
    """Arabic when at least 40 % of the letters are Arabic script, else English."""
    letters = len(_ARABIC_LETTER.findall(text)) + len(_LATIN_LETTER.findall(text))
    if not letters:
        return default
    # 40 %: a mostly Arabic sentence with a brand name or an e-mail address is still Arabic.
    return "ar" if arabic_share(text) >= 0.4 else "en"


def stem(token: str) -> str:
    """A light stem: the Arabic article and its prefixes, or the English plural, removed."""
    if _ARABIC_LETTER.match(token):
        for prefix in _ARABIC_PREFIXES:
            if token.startswith(prefix) and len(token) - len(prefix) >= 2:
                return token[len(prefix) :]
        return token
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


def tokenize(text: str, *, keep_stop_words: bool = False) -> list[str]:
    """Normalised, lightly stemmed tokens of `text`, stop words dropped unless asked."""
    tokens = _TOKEN.findall(normalise(text))
    if not keep_stop_words:
        tokens = [t for t in tokens if t not in STOP_WORDS]
    return [stem(t) for t in tokens]
