"""The knowledge base API: CRUD, encryption at rest, roles, tenant isolation and audit."""

from __future__ import annotations

import uuid
from typing import Any

from majlis.db import tenant_transaction

AiWorld = Any  # the world's classes live in this folder's conftest.py
AUDIT = "chatflow.audit.recorded"
ENTRY = {
    "questions": ["What are your opening hours?", "ما هي ساعات العمل؟"],
    "answer": {"en": "We open 9am to 6pm, Saturday to Thursday.",
               "ar": "نفتح من ٩ صباحًا حتى ٦ مساءً، من السبت إلى الخميس."},
}  # fmt: skip
DOCUMENT = {
    "title": "Delivery policy",
    "language": "en",
    "text": "We deliver across the UAE.\n\nDelivery to Dubai and Sharjah is free above AED 200."
    "\n\nReturns are accepted within 14 days with the receipt.",
}


async def test_entries_crud_encrypted_audited_and_role_gated(ai_world: AiWorld) -> None:
    world = ai_world
    team = await world.team()
    status, entry = await world.request(team, "admin", "POST", "/api/v1/knowledge/entries", ENTRY)
    assert status == 201, entry
    assert entry["questions"] == ENTRY["questions"]
    assert entry["answer"] == ENTRY["answer"]
    assert entry["languages"] == ["ar", "en"]

    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        row = await conn.fetchrow("SELECT * FROM knowledge_entries WHERE id = $1",
                                  uuid.UUID(entry["id"]))  # fmt: skip
    assert row is not None
    assert b"opening" not in row["content_enc"]
    assert "ساعات".encode() not in row["content_enc"]

    for role in ("agent", "viewer"):
        status, got = await world.request(
            team, role, "GET", f"/api/v1/knowledge/entries/{entry['id']}"
        )
        assert (status, got["answer"]) == (200, ENTRY["answer"])
        status, problem = await world.request(
            team, role, "POST", "/api/v1/knowledge/entries", ENTRY
        )
        assert status == 403, problem
        status, _ = await world.request(
            team, role, "DELETE", f"/api/v1/knowledge/entries/{entry['id']}"
        )
        assert status == 403

    changed = {"questions": ["When do you open?"], "answer": {"en": "At 9am."}}
    path = f"/api/v1/knowledge/entries/{entry['id']}"
    status, updated = await world.request(team, "owner", "PUT", path, changed)
    assert (status, updated["languages"], updated["answer"]) == (200, ["en"], {"en": "At 9am."})

    # Keyset pages, newest first.
    for n in range(3):
        body = {"questions": [f"Question {n}?"], "answer": {"en": f"Answer {n}"}}
        assert (await world.request(team, "owner", "POST", "/api/v1/knowledge/entries", body))[
            0
        ] == 201
    status, page = await world.request(team, "viewer", "GET", "/api/v1/knowledge/entries?limit=2")
    assert status == 200
    assert len(page["items"]) == 2
    assert page["next_cursor"]
    status, rest = await world.request(
        team, "viewer", "GET", f"/api/v1/knowledge/entries?limit=2&after={page['next_cursor']}"
    )
    ids = [e["id"] for e in page["items"] + rest["items"]]
    assert len(ids) == len(set(ids)) == 4

    assert (await world.request(team, "owner", "DELETE", path))[0] == 204
    assert (await world.request(team, "owner", "GET", path))[0] == 404

    audits = await world.wait_for(AUDIT, "target_id", entry["id"], count=3)
    assert [a["action"] for a in audits] == [
        "knowledge.entry.created", "knowledge.entry.updated", "knowledge.entry.deleted",
    ]  # fmt: skip
    assert "opening" not in str(audits)
    assert "9am" not in str(audits)


async def test_bad_bodies_are_problems_not_errors(ai_world: AiWorld) -> None:
    world = ai_world
    team = await world.team()
    bad = [
        {"questions": [], "answer": {"en": "x"}},
        {"questions": ["q?"], "answer": {}},
        {"questions": ["q?"], "answer": {"fr": "oui"}},
        {"questions": ["q?"], "answer": {"en": "x"}, "extra": 1},
        {"questions": ["   "], "answer": {"en": "x"}},
    ]
    for body in bad:
        status, problem = await world.request(
            team, "owner", "POST", "/api/v1/knowledge/entries", body
        )
        assert status == 422, (body, problem)
        assert problem["status"] == 422
    status, _ = await world.request(
        team, "owner", "POST", "/api/v1/knowledge/documents", {**DOCUMENT, "language": "fr"}
    )
    assert status == 422
    status, _ = await world.request(team, "owner", "GET", "/api/v1/knowledge/entries/not-a-uuid")
    assert status == 404
    status, _ = await world.request(team, "owner", "GET", "/api/v1/knowledge/entries?after=zzz")
    assert status == 422


async def test_documents_crud_and_chunks(ai_world: AiWorld) -> None:
    world = ai_world
    team = await world.team()
    status, doc = await world.request(
        team, "owner", "POST", "/api/v1/knowledge/documents", DOCUMENT
    )
    assert status == 201, doc
    assert doc["title"] == "Delivery policy"
    assert doc["chunks"] == 1
    assert "text" not in doc
    path = f"/api/v1/knowledge/documents/{doc['id']}"
    status, got = await world.request(team, "viewer", "GET", path)
    assert (status, got["text"]) == (200, DOCUMENT["text"])
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        row = await conn.fetchrow("SELECT * FROM knowledge_documents WHERE id = $1",
                                  uuid.UUID(doc["id"]))  # fmt: skip
    assert row is not None
    assert b"Delivery" not in row["title_enc"]
    assert b"Sharjah" not in row["text_enc"]
    long_text = "\n\n".join(f"Paragraph {n}. " + "Words about the shop. " * 30 for n in range(6))
    status, updated = await world.request(
        team, "admin", "PUT", path, {"title": "Shop", "language": "en", "text": long_text}
    )
    assert status == 200
    assert updated["chunks"] == 6
    status, listed = await world.request(team, "agent", "GET", "/api/v1/knowledge/documents")
    assert [d["id"] for d in listed["items"]] == [doc["id"]]
    assert "text" not in listed["items"][0]
    assert (await world.request(team, "agent", "PUT", path, DOCUMENT))[0] == 403
    assert (await world.request(team, "owner", "DELETE", path))[0] == 204
    assert (await world.request(team, "owner", "DELETE", path))[0] == 404


async def test_another_tenants_knowledge_is_not_found(ai_world: AiWorld) -> None:
    world = ai_world
    team, other = await world.team(), await world.team()
    _, entry = await world.request(team, "owner", "POST", "/api/v1/knowledge/entries", ENTRY)
    _, doc = await world.request(team, "owner", "POST", "/api/v1/knowledge/documents", DOCUMENT)
    for path in (f"/api/v1/knowledge/entries/{entry['id']}",
                 f"/api/v1/knowledge/documents/{doc['id']}"):  # fmt: skip
        body = ENTRY if "entries" in path else DOCUMENT
        assert (await world.request(other, "owner", "GET", path))[0] == 404
        assert (await world.request(other, "owner", "PUT", path, body))[0] == 404
        assert (await world.request(other, "owner", "DELETE", path))[0] == 404
        assert (await world.request(team, "owner", "GET", path))[0] == 200  # still there
    for path in ("/api/v1/knowledge/entries", "/api/v1/knowledge/documents"):
        status, listed = await world.request(other, "owner", "GET", path)
        assert (status, listed["items"]) == (200, [])


async def test_requests_without_a_valid_token_are_refused(ai_world: AiWorld) -> None:
    world = ai_world
    for path in ("/api/v1/knowledge/entries", "/api/v1/leads", "/api/v1/ai/settings"):
        async with world.http.get(world.url + path) as response:
            assert response.status == 401
        headers = {"Authorization": "Bearer not-a-token"}
        async with world.http.get(world.url + path, headers=headers) as response:
            assert response.status == 401
