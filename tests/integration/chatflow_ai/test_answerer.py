"""The built-in answerer over a tenant's knowledge base: Arabic and English, thresholds,
language handling, tenant isolation and index invalidation."""

from __future__ import annotations

from typing import Any

from chatflow.ai import answer_question

AiWorld = Any
HOURS: dict[str, Any] = {
    "questions": ["What are your opening hours?", "ما هي ساعات العمل؟"],
    "answer": {"en": "We open 9am to 6pm.", "ar": "نفتح من ٩ صباحًا حتى ٦ مساءً."},
}
PARKING: dict[str, Any] = {
    "questions": ["هل يوجد موقف سيارات؟"],
    "answer": {"ar": "نعم، الموقف مجاني."},
}
DELIVERY_DOC: dict[str, Any] = {
    "title": "Delivery policy",
    "language": "en",
    "text": "Shipping: we deliver across the UAE in 2 days.\n\n"
    "Returns are accepted within 14 days with the receipt.",
}
PRICES_DOC: dict[str, Any] = {
    "title": "الأسعار",
    "language": "ar",
    "text": "سعر الباقة الذهبية ٥٠٠ درهم شهريًا.\n\nسعر الباقة الفضية ٢٥٠ درهم شهريًا.",
}


async def _knowledge(world: AiWorld, team: Any) -> None:
    for path, bodies in (
        ("/api/v1/knowledge/entries", (HOURS, PARKING)),
        ("/api/v1/knowledge/documents", (DELIVERY_DOC, PRICES_DOC)),
    ):
        for body in bodies:
            status, _ = await world.request(team, "owner", "POST", path, body)
            assert status == 201


async def test_english_and_arabic_questions_get_answers_in_their_language(
    ai_world: AiWorld,
) -> None:
    world = ai_world
    team = await world.team()
    await _knowledge(world, team)

    answer = await answer_question(team.tenant_id, "Hi! what are your opening hours?")
    assert answer is not None
    assert (answer.text, answer.language, answer.source) == ("We open 9am to 6pm.", "en", "builtin")
    assert answer.confidence == 1.0

    # Diacritics, a hamza-less alef, tatweel and ta marbuta written as ha still match.
    answer = await answer_question(team.tenant_id, "مَا هِيَ سـاعات العمل؟")
    assert answer is not None
    assert (answer.text, answer.language) == (HOURS["answer"]["ar"], "ar")
    answer = await answer_question(team.tenant_id, "في موقف للسيارات؟")
    assert answer is not None
    assert answer.text == "نعم، الموقف مجاني."

    # A document chunk (short paragraphs share one) answers, found through Arabic-Indic
    # digits in the question.
    answer = await answer_question(team.tenant_id, "كم سعر الباقة ب٥٠٠ درهم؟")
    assert answer is not None
    assert "سعر الباقة الذهبية ٥٠٠ درهم" in answer.text
    answer = await answer_question(team.tenant_id, "How many days for returns?")
    assert answer is not None
    assert "Returns are accepted within 14 days" in answer.text
    assert answer.passages[0].startswith("document:")


async def test_unknown_questions_and_missing_translations_hand_off(ai_world: AiWorld) -> None:
    world = ai_world
    team = await world.team()
    await _knowledge(world, team)
    assert await answer_question(team.tenant_id, "Can I pay with bitcoin?") is None
    assert await answer_question(team.tenant_id, "hello") is None  # only stop words
    # Parking is answered in Arabic only: an English question is handed to a person.
    assert await answer_question(team.tenant_id, "Is there parking for cars?") is None
    # The language hint wins over detection.
    answer = await answer_question(team.tenant_id, "opening hours", language_hint="ar")
    assert answer is not None
    assert answer.language == "ar"
    # Two of five terms is below the default threshold (0.5), above a lower one.
    assert await answer_question(team.tenant_id, "opening hours for ramadan iftar suhoor") is None
    body = {"provider": "builtin", "min_confidence": 0.35}
    assert (await world.request(team, "owner", "PUT", "/api/v1/ai/settings", body))[0] == 200
    answer = await answer_question(team.tenant_id, "opening hours for ramadan iftar suhoor")
    assert answer is not None
    assert answer.confidence == 0.4


async def test_answers_stay_within_the_tenant_and_follow_changes(ai_world: AiWorld) -> None:
    world = ai_world
    team, other = await world.team(), await world.team()
    status, entry = await world.request(team, "owner", "POST", "/api/v1/knowledge/entries", HOURS)
    assert status == 201
    assert await answer_question(other.tenant_id, "what are your opening hours?") is None
    builds = world.service.indexes.builds
    assert await answer_question(team.tenant_id, "opening hours?") is not None
    assert await answer_question(team.tenant_id, "opening hours today?") is not None
    assert world.service.indexes.builds == builds + 1  # the second question reused the index

    path = f"/api/v1/knowledge/entries/{entry['id']}"
    changed = {"questions": ["What are your opening hours?"], "answer": {"en": "Open 24/7."}}
    assert (await world.request(team, "admin", "PUT", path, changed))[0] == 200
    answer = await answer_question(team.tenant_id, "opening hours?")
    assert answer is not None
    assert answer.text == "Open 24/7."
    assert (await world.request(team, "admin", "DELETE", path))[0] == 204
    assert await answer_question(team.tenant_id, "opening hours?") is None
