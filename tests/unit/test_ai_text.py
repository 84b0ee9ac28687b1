"""Arabic/English normalisation, language detection, tokenizer, chunking and BM25 ranking."""

from __future__ import annotations

import uuid

from chatflow.ai.bm25 import Bm25Index
from chatflow.ai.knowledge import chunk_text, entry_passage
from majlis.ai.text import arabic_share, detect_language, normalise, tokenize


def test_diacritics_tatweel_and_letter_forms_are_unified() -> None:
    assert normalise("مَرْحَبًا") == "مرحبا"
    assert normalise("مـــرحبا") == "مرحبا"
    assert {normalise(w) for w in ("أحمد", "إحمد", "آحمد", "ٱحمد", "احمد")} == {"احمد"}
    assert normalise("مستشفى") == "مستشفي"
    assert normalise("مدرسة") == "مدرسه"
    assert normalise("مؤتمر") == "موتمر"
    assert normalise("رئيس") == "رييس"


def test_arabic_indic_and_persian_digits_become_ascii_and_latin_is_casefolded() -> None:
    assert normalise("٠١٢٣٤٥٦٧٨٩") == "0123456789"
    assert normalise("۰۱۲۳۴۵۶۷۸۹") == "0123456789"
    assert normalise("١٥٠٬٠٠٠٫٥") == "150,000.5"
    assert normalise("Opening HOURS Straße") == "opening hours strasse"


def test_language_detection_by_arabic_script_share() -> None:
    assert detect_language("ما هي ساعات العمل؟") == "ar"
    assert detect_language("What are your opening hours?") == "en"
    # A mostly Arabic sentence with a brand name stays Arabic.
    assert detect_language("هل يعمل iPhone مع خدمتكم الجديدة؟") == "ar"
    assert detect_language("12345 !!!") == "en"
    assert detect_language("12345", default="ar") == "ar"
    assert arabic_share("abc") == 0.0
    assert arabic_share("ابت") == 1.0


def test_tokenizer_drops_stop_words_and_stems_lightly() -> None:
    assert tokenize("What are your opening hours?") == ["opening", "hour"]
    assert tokenize("ما هي ساعات الدوام؟") == ["ساعات", "دوام"]
    assert tokenize("وَالتَّوْصِيلُ بِالمجان") == ["توصيل", "مجان"]
    assert tokenize("the hours", keep_stop_words=True) == ["the", "hour"]
    assert tokenize("class") == ["class"]  # "ss" is not a plural


def test_chunks_follow_paragraphs_and_stay_short() -> None:
    text = "First paragraph.\n\nSecond paragraph.\n\n" + "Long sentence here. " * 80
    chunks = chunk_text(text, limit=200)
    assert chunks[0].startswith("First paragraph.\nSecond paragraph.\nLong sentence here.")
    assert len(chunks) > 5
    assert all(len(c) <= 200 for c in chunks)
    assert all(c.endswith("here.") for c in chunks)  # cut between sentences, not inside
    assert "".join(chunks).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(
        " ", ""
    )


def _index() -> Bm25Index:
    entries = [
        {"questions": ["What are your opening hours?", "ما هي ساعات العمل؟"],
         "answers": {"en": "9 to 5", "ar": "من ٩ إلى ٥"}},
        {"questions": ["Do you deliver to Abu Dhabi?"], "answers": {"en": "Yes, free."}},
        {"questions": ["هل يوجد موقف سيارات؟"], "answers": {"ar": "نعم"}},
    ]  # fmt: skip
    return Bm25Index([entry_passage(uuid.uuid4(), e) for e in entries])


def test_bm25_ranks_the_matching_entry_first_with_a_coverage_confidence() -> None:
    index = _index()
    [best, *_] = index.search(tokenize("opening hours please"))
    assert best.passage.answers["en"] == "9 to 5"
    assert best.confidence == 1.0
    [best, *_] = index.search(tokenize("deliver to Dubai?"))
    assert best.passage.answers["en"] == "Yes, free."
    assert best.confidence == 0.5  # "deliver" found, "dubai" not
    assert index.search(tokenize("cancel my subscription")) == []
    assert index.search([]) == []
    assert Bm25Index([]).search(["x"]) == []
