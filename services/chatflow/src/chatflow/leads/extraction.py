"""The rule-based lead extractor: what a customer said about themselves, in Arabic or English.

It reads name, e-mail, phone (libphonenumber, default region AE), company, interest, budget
(an amount with a currency: AED, SAR, USD, ... written as codes, symbols or words such as درهم
and ريال, with Arabic-Indic digits and "k"/"ألف" multipliers) and timeline. Later messages win
over earlier ones (a customer correcting themselves); nothing is guessed without a cue.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import phonenumbers

from chatflow.leads.model import LeadData
from majlis.ai.text import normalise

_DIGITS = str.maketrans(
    {**{chr(0x0660 + d): str(d) for d in range(10)}, **{chr(0x06F0 + d): str(d) for d in range(10)},
     "\u066b": ".", "\u066c": ",", "\u060c": ","}
)  # fmt: skip
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,24}")
_STOP = r"(?=[,.;!?؟،\n]|\s+(?:and|but|so|و)\s|\s+و|$)"
_NAME_EN = re.compile(
    r"\b(?i:my name is|my name's|this is|i am|i'm|im)\s+([A-Z][a-z'\-]+(?:\s+[A-Z][a-z'\-]+){0,2})"
)
_NAME_EN_ANY = re.compile(r"\bmy name is\s+([^\W\d_][\w'\-]*(?:\s+[^\W\d_][\w'\-]*){0,2})", re.I)
_NAME_AR = re.compile(r"(?:اسمي|إسمي|معك|معاك)\s+([\u0621-\u064a]+(?:\s+[\u0621-\u064a]+){0,2})")
_AR_NAME_STOP = {"و", "من", "في", "اعمل", "أعمل", "وأعمل", "واعمل", "مهتم", "ابحث", "أبحث"}
_COMPANY_EN = re.compile(
    r"\b(?i:i work (?:at|for)|i'm with|work (?:at|for)|company is|company name is|company:)\s+"
    r"((?:[A-Z0-9][\w&'.\-]*)(?:\s+[A-Z0-9][\w&'.\-]*){0,3})"
)
_COMPANY_AR = re.compile(r"(?:شركة|شركه|مؤسسة|مؤسسه)\s+([^\s,.;!?؟،]+(?:\s+[^\s,.;!?؟،]+){0,2})")
# Strong cues say what the customer is after; weak ones ("I want ...") only fill a gap.
_INTEREST_EN = re.compile(
    r"\b(?:interested in|looking for|enquiring about|inquiring about|want to buy)\s+"
    r"(?:a |an |the |some )?(.{2,80}?)" + _STOP,
    re.I,
)
_INTEREST_AR = re.compile(
    r"(?:مهتم|مهتمه|مهتمة)\s+(?:ب|في)\s*(.{2,80}?)" + _STOP
    + r"|(?:ابحث|أبحث|ادور|أدور)\s+عن\s+(.{2,80}?)" + _STOP
)  # fmt: skip
_WANT = re.compile(
    r"\b(?:i want|i need|i'd like|i would like)\s+(?:a |an |the |some |to buy )?(.{2,80}?)"
    + _STOP
    + r"|(?:اريد|أريد|ابغى|أبغى|ابي|أبي|بدي)\s+(.{2,80}?)"
    + _STOP,
    re.I,
)
# Currency words, normalised like the text (ة→ه, ى→ي, alef forms unified).
_CURRENCIES: tuple[tuple[str, str], ...] = (
    ("ريال قطري", "QAR"), ("ريال عماني", "OMR"), ("ريال سعودي", "SAR"),
    ("دينار كويتي", "KWD"), ("دينار بحريني", "BHD"), ("جنيه مصري", "EGP"),
    ("درهم", "AED"), ("دراهم", "AED"), ("ريال", "SAR"), ("ريالات", "SAR"), ("دولار", "USD"),
    ("يورو", "EUR"), ("دينار", "KWD"), ("جنيه", "GBP"),
    ("aed", "AED"), ("dhs", "AED"), ("dh", "AED"), ("dirhams", "AED"), ("dirham", "AED"),
    ("sar", "SAR"), ("riyals", "SAR"), ("riyal", "SAR"), ("usd", "USD"), ("dollars", "USD"),
    ("dollar", "USD"), ("$", "USD"), ("eur", "EUR"), ("euros", "EUR"), ("euro", "EUR"),
    ("€", "EUR"), ("gbp", "GBP"), ("£", "GBP"), ("kwd", "KWD"), ("qar", "QAR"),
    ("omr", "OMR"), ("bhd", "BHD"), ("egp", "EGP"),
)  # fmt: skip
_CURRENCY_ALT = "|".join(re.escape(w) for w, _ in sorted(_CURRENCIES, key=lambda c: -len(c[0])))
_CURRENCY_OF = dict(_CURRENCIES)
_AMOUNT = r"(\d[\d,]*(?:\.\d+)?)\s*(k|m|thousand|million|الف|الاف|مليون)?"
_BUDGET_AFTER = re.compile(_AMOUNT + r"\s*(" + _CURRENCY_ALT + r")(?![a-z])")
_BUDGET_BEFORE = re.compile(r"(?<![a-z])(" + _CURRENCY_ALT + r")\s*" + _AMOUNT)
_MULTIPLIER = {"k": 1000, "thousand": 1000, "الف": 1000, "الاف": 1000, "m": 10**6,
               "million": 10**6, "مليون": 10**6}  # fmt: skip
_TIMELINE = re.compile(
    r"\b(?:within|in|over the next)\s+(?:\d+|a|one|two|three|few|a few|couple of)\s+"
    r"(?:days?|weeks?|months?|years?)\b"
    r"|\b(?:next|this)\s+(?:week|month|quarter|year)\b|\bby (?:the )?end of (?:the )?"
    r"(?:week|month|year|\w+)\b|\b(?:asap|as soon as possible|immediately|urgently|right away)\b"
    r"|خلال\s+(?:\d+\s+)?(?:يومين|يوم|ايام|اسبوعين|اسبوع|اسابيع|شهرين|شهر|اشهر|شهور|سنتين|سنه)"
    r"|(?:الاسبوع|الشهر|السنه|العام)\s+(?:القادم|القادمه|الجاي|الجايه|المقبل|المقبله)"
    r"|(?:هذا|هذه)\s+(?:الاسبوع|الشهر|السنه)|فورا|باسرع وقت|في اقرب وقت",
    re.I,
)


def _digits(text: str) -> str:
    return text.translate(_DIGITS)


def _last(pattern: re.Pattern[str], text: str) -> str | None:
    found = [next(g for g in m.groups() if g) for m in pattern.finditer(text) if any(m.groups())]
    return found[-1].strip().rstrip(".,;:!?؟،") if found else None


def _phone(text: str, region: str) -> str | None:
    found = None
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        if phonenumbers.is_valid_number(match.number):
            found = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return found


def _amount(number: str, multiplier: str | None) -> Decimal | None:
    try:
        value = Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None
    return value * _MULTIPLIER.get((multiplier or "").lower(), 1)


def _budget(normalised: str) -> tuple[Decimal, str] | None:
    found: tuple[int, Decimal, str] | None = None
    for m in _BUDGET_AFTER.finditer(normalised):
        amount = _amount(m.group(1), m.group(2))
        if amount is not None and (found is None or m.start() >= found[0]):
            found = (m.start(), amount, _CURRENCY_OF[m.group(3)])
    for m in _BUDGET_BEFORE.finditer(normalised):
        amount = _amount(m.group(2), m.group(3))
        if amount is not None and (found is None or m.start() > found[0]):
            found = (m.start(), amount, _CURRENCY_OF[m.group(1)])
    return (found[1], found[2]) if found else None


def _arabic_name(text: str) -> str | None:
    matches = list(_NAME_AR.finditer(text))
    if not matches:
        return None
    words: list[str] = []
    for word in matches[-1].group(1).split():
        if word in _AR_NAME_STOP or (word.startswith("و") and len(words) >= 1):
            break
        words.append(word)
    return " ".join(words) or None


def extract(texts: list[str], region: str = "AE") -> LeadData:
    """What the messages say about the customer; later messages override earlier ones."""
    data = LeadData()
    has_strong_interest = False
    for raw in texts:
        text = _digits(raw)
        normalised = normalise(raw)
        email = _EMAIL.findall(text)
        budget = _budget(normalised)
        found = {
            "email": email[-1].lower() if email else None,
            "phone": _phone(text, region),
            "name": _last(_NAME_EN, text) or _last(_NAME_EN_ANY, text) or _arabic_name(text),
            "company": _last(_COMPANY_EN, text) or _last(_COMPANY_AR, text),
            "interest": _last(_INTEREST_EN, text) or _last(_INTEREST_AR, text),
            "timeline": _last_timeline(text, normalised),
            "budget_amount": budget[0] if budget else None,
            "budget_currency": budget[1] if budget else None,
        }
        if found["interest"]:
            has_strong_interest = True
        elif not has_strong_interest:
            found["interest"] = _last(_WANT, text)
        data = data.merged(LeadData.model_validate(found))
    return data


def _last_timeline(text: str, normalised: str) -> str | None:
    # English cues are matched on the original (for its spelling), Arabic on the normalised.
    matches = list(_TIMELINE.finditer(text)) or list(_TIMELINE.finditer(normalised))
    return matches[-1].group(0).strip() if matches else None
