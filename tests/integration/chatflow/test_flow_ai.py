"""The flow engine's AI nodes on the real AI side: the built-in answerer replies from the
tenant's knowledge base in the customer's language, and lead capture stores the lead."""

from __future__ import annotations

from typing import Any

from majlis.testing.browser import Browser

AI_FLOW: dict[str, Any] = {
    "start": "ai",
    "nodes": [
        {"id": "ai", "type": "ai_answer"},
        {"id": "ask", "type": "ask_question", "text": "Your e-mail, so we can follow up?",
         "variable": "email", "validation": {"type": "email"}},
        {"id": "lead", "type": "ai_lead_capture"},
        {"id": "bye", "type": "end"},
    ],
    "edges": [
        {"from": "ai", "to": "ask"}, {"from": "ask", "to": "lead"}, {"from": "lead", "to": "bye"},
    ],
}  # fmt: skip
HOURS = {
    "questions": ["What are your opening hours?", "ما هي ساعات العمل؟"],
    "answer": {"en": "We open 9am to 6pm.", "ar": "نفتح من ٩ صباحًا حتى ٦ مساءً."},
}


async def _publish(owner: Browser, priority: int = 5) -> None:
    body = {
        "name": "FAQ bot",
        "triggers": [{"type": "first_message"}],
        "document": AI_FLOW,
        "priority": priority,
    }
    status, flow, _ = await owner.request("POST", "/api/v1/flows", json=body)
    assert status == 201, flow
    status, version, _ = await owner.request("POST", f"/api/v1/flows/{flow['id']}/publish")
    assert status == 201, version


async def test_ai_answer_replies_from_the_knowledge_base_and_the_lead_is_captured(
    flow_world: Any,
) -> None:
    team = await flow_world.team()
    owner = team.people["owner"]
    status, entry, _ = await owner.request("POST", "/api/v1/knowledge/entries", json=HOURS)
    assert status == 201, entry
    await _publish(owner)

    phone = flow_world.fresh_phone()
    # Arabic with diacritics: answered in Arabic from the knowledge base.
    await flow_world.say(team, phone, "مَا هِيَ سَاعَاتُ العَمَلِ؟")
    sent = await flow_world.sent_count(team, 2)
    bodies = {m["payload"]["text"]["body"] for m in sent}
    assert bodies == {"نفتح من ٩ صباحًا حتى ٦ مساءً.", "Your e-mail, so we can follow up?"}
    await flow_world.say(team, phone, "sara@example.com")
    [session] = await flow_world.until(
        team, "SELECT status, end_reason FROM flow_sessions WHERE status = 'ended'"
    )
    assert session["end_reason"] != "handoff"
    [conversation] = await flow_world.sql(team, "SELECT controller FROM conversations")
    assert conversation["controller"] == "bot"  # answered: nobody had to step in
    status, leads, _ = await team.people["agent"].request("GET", "/api/v1/leads")
    assert status == 200, leads
    [lead] = leads["items"]
    assert lead["source"] == "flow"
    assert "sara@example.com" in str(lead)


async def test_a_question_the_knowledge_base_cannot_answer_goes_to_a_person(
    flow_world: Any,
) -> None:
    team = await flow_world.team()
    owner = team.people["owner"]
    status, _, _ = await owner.request("POST", "/api/v1/knowledge/entries", json=HOURS)
    assert status == 201
    await _publish(owner)
    await flow_world.say(team, flow_world.fresh_phone(), "Do you repair bicycles?")
    await flow_world.until(team, "SELECT id FROM conversations WHERE controller = 'human'")
    assert await flow_world.sent(team) == []  # never a guess
