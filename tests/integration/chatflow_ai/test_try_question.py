"""`POST /api/v1/knowledge/try`: the answer the bot would give and the passages behind it, from
the built-in answerer and a configured provider; roles, validation, tenant isolation and the
per-tenant quota."""

from __future__ import annotations

from typing import Any

from chatflow.ai import answer_question

AiWorld = Any
TRY = "/api/v1/knowledge/try"
OPENAI_KEY = "sk-test-" + "a1b2c3d4e5f6a7b8c9d0"
HOURS: dict[str, Any] = {
    "questions": ["What are your opening hours?", "ما هي ساعات العمل؟"],
    "answer": {"en": "We open 9am to 6pm.", "ar": "نفتح من ٩ صباحًا حتى ٦ مساءً."},
}
PARKING: dict[str, Any] = {
    "questions": ["هل يوجد موقف سيارات؟"],
    "answer": {"ar": "نعم، الموقف مجاني."},
}
RETURNS_DOC: dict[str, Any] = {
    "title": "Returns policy",
    "language": "en",
    "text": "Returns are accepted within 14 days with the receipt.",
}


async def _team_with_kb(world: AiWorld) -> tuple[Any, dict[str, str]]:
    team = await world.team()
    ids = {}
    for name, path, body in (
        ("hours", "/api/v1/knowledge/entries", HOURS),
        ("parking", "/api/v1/knowledge/entries", PARKING),
        ("returns", "/api/v1/knowledge/documents", RETURNS_DOC),
    ):
        status, created = await world.request(team, "owner", "POST", path, body)
        assert status == 201, created
        ids[name] = created["id"]
    return team, ids


async def test_builtin_answers_with_the_passage_it_used_in_both_languages(
    ai_world: AiWorld,
) -> None:
    world = ai_world
    team, ids = await _team_with_kb(world)

    status, tried = await world.request(team, "agent", "POST", TRY,
                                        {"question": "What are your opening hours?"})  # fmt: skip
    assert status == 200, tried
    assert tried["answered"] is True
    assert tried["answer"] == {"text": "We open 9am to 6pm.", "language": "en",
                               "confidence": 1.0, "source": "builtin"}  # fmt: skip
    assert (tried["provider"], tried["model"], tried["language"]) == ("builtin", None, "en")
    used = [p for p in tried["passages"] if p["used"]]
    assert used == [tried["passages"][0]]
    assert used[0]["kind"] == "entry"
    assert used[0]["id"] == ids["hours"]
    assert used[0]["label"] == "What are your opening hours?"
    # Exactly what the flow engine's answerer says to the same question.
    engine = await answer_question(team.tenant_id, "What are your opening hours?")
    assert engine is not None
    assert engine.text == tried["answer"]["text"]

    status, tried = await world.request(team, "owner", "POST", TRY,
                                        {"question": "مَا هِيَ ساعات العمل؟"})  # fmt: skip
    assert status == 200
    assert tried["answer"]["text"] == HOURS["answer"]["ar"]
    assert tried["answer"]["language"] == "ar"

    status, tried = await world.request(team, "admin", "POST", TRY,
                                        {"question": "How many days for returns?"})  # fmt: skip
    assert status == 200
    [used_doc] = [p for p in tried["passages"] if p["used"]]
    assert (used_doc["kind"], used_doc["id"], used_doc["chunk"]) == ("document", ids["returns"], 0)
    assert used_doc["label"] == "Returns policy"
    assert "14 days" in tried["answer"]["text"]


async def test_a_question_it_cannot_answer_is_a_handoff_with_its_candidates(
    ai_world: AiWorld,
) -> None:
    world = ai_world
    team, ids = await _team_with_kb(world)
    status, tried = await world.request(team, "owner", "POST", TRY,
                                        {"question": "Can I pay with bitcoin?"})  # fmt: skip
    assert status == 200
    assert (tried["answered"], tried["answer"]) == (False, None)

    # Parking is answered in Arabic only: asked in English, the bot hands off, and the page
    # can say why (the best passage has no English answer).
    status, tried = await world.request(team, "owner", "POST", TRY,
                                        {"question": "Is there parking for cars?"})  # fmt: skip
    assert status == 200
    assert tried["answered"] is False
    # The same question with the reply's language forced to Arabic is answered.
    asked = {"question": "هل يوجد موقف سيارات؟", "language": "ar"}
    status, forced = await world.request(team, "owner", "POST", TRY, asked)
    assert status == 200
    assert forced["answer"]["text"] == "نعم، الموقف مجاني."
    [parking] = [p for p in forced["passages"] if p["id"] == ids["parking"]]
    assert parking["has_language"] is True
    assert parking["used"] is True


async def test_a_configured_provider_is_called_as_the_bot_would(ai_world: AiWorld) -> None:
    world = ai_world
    team, _ = await _team_with_kb(world)
    await world.set_provider(team, "openai", OPENAI_KEY, model="gpt-4.1")
    world.openai.requests.clear()
    world.openai.replies.append("We are open from 9am to 6pm every day.")
    asked = {"question": "When are you open? opening hours"}
    status, tried = await world.request(team, "owner", "POST", TRY, asked)
    assert status == 200, tried
    assert (tried["provider"], tried["model"]) == ("openai", "gpt-4.1")
    assert tried["answer"]["text"] == "We are open from 9am to 6pm every day."
    assert tried["answer"]["source"] == "openai"
    [request] = world.openai.requests
    assert request["body"]["model"] == "gpt-4.1"
    assert "We open 9am to 6pm." in request["body"]["messages"][1]["content"]
    assert OPENAI_KEY not in str(tried)
    # The model says HANDOFF: the page shows the hand-off, as the bot would do it.
    world.openai.replies.append("HANDOFF")
    status, tried = await world.request(team, "owner", "POST", TRY, {"question": "bitcoin?"})
    assert status == 200
    assert tried["answered"] is False


async def test_roles_validation_and_tenant_isolation(ai_world: AiWorld) -> None:
    world = ai_world
    team, _ = await _team_with_kb(world)
    other = await world.team()
    status, problem = await world.request(team, "viewer", "POST", TRY, {"question": "hours?"})
    assert (status, problem["type"].rsplit("/", 1)[-1]) == (403, "forbidden-role")
    invalid: tuple[dict[str, Any], ...] = (
        {"question": "hours", "tenant_id": str(other.tenant_id)},
        {"question": "   "},
        {"question": "x" * 1001},
        {"question": "hours", "language": "fr"},
        {},
    )
    for body in invalid:
        status, problem = await world.request(team, "owner", "POST", TRY, body)
        assert status == 422, (body, problem)
        assert problem["status"] == 422
    # Another tenant's knowledge base is invisible: its question finds nothing.
    status, tried = await world.request(other, "owner", "POST", TRY,
                                        {"question": "What are your opening hours?"})  # fmt: skip
    assert status == 200
    assert (tried["answered"], tried["passages"]) == (False, [])
    async with world.http.post(world.url + TRY, json={"question": "hours"}) as response:
        assert response.status == 401


async def test_each_tenant_has_a_quota_of_questions_a_minute(ai_world: AiWorld) -> None:
    world = ai_world
    team, _ = await _team_with_kb(world)
    other, _ = await _team_with_kb(world)
    quota = world.settings_ai.try_per_minute
    headers = {"Authorization": f"Bearer {team.tokens['agent']}"}
    for n in range(quota):
        async with world.http.post(world.url + TRY, json={"question": "hours?"},
                                   headers=headers) as response:  # fmt: skip
            assert response.status == 200
            assert response.headers["RateLimit-Remaining"] == str(quota - n - 1)
    async with world.http.post(world.url + TRY, json={"question": "hours?"},
                               headers=headers) as response:  # fmt: skip
        assert response.status == 429
        assert int(response.headers["Retry-After"]) >= 1
        assert (await response.json(content_type=None))["status"] == 429
    # The owner of the same tenant shares the quota; another tenant has its own.
    status, _ = await world.request(team, "owner", "POST", TRY, {"question": "hours?"})
    assert status == 429
    status, _ = await world.request(other, "owner", "POST", TRY, {"question": "hours?"})
    assert status == 200
