"""CSV import (streamed, deduped by blind index, limits) and export (neutralised cells)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

from majlis.db import tenant_transaction
from majlis.testing.bus_observer import observe

CSV = {"Content-Type": "text/csv"}


def valid_phone() -> str:
    """A UAE mobile number that phonenumbers accepts."""
    return "+97150" + str(secrets.randbelow(10**7)).zfill(7)


async def import_csv(browser: Any, text: str | bytes) -> tuple[int, Any]:
    data = text.encode() if isinstance(text, str) else text
    status, body, _ = await browser.request(
        "POST", "/api/v1/contacts/import", data=io.BytesIO(data), headers=CSV
    )
    return status, body


async def phone_count(world: Any, team: Any, phone: str) -> int:
    """Contacts holding `phone`, found by the API's phone search (blind index)."""
    status, body, _ = await team.owner.request(
        "GET", "/api/v1/contacts?q=" + phone.replace("+", "%2B")
    )
    assert status == 200, body
    return len(body["items"])


async def test_import_creates_updates_dedupes_and_reports_invalid_rows(inbox_world: Any) -> None:
    team = await inbox_world.team()
    status, _, _ = await team.admin.request(
        "POST", "/api/v1/contact-attributes",
        json={"key": "city", "label": "City", "type": "list", "options": ["Dubai", "Ajman"]},
    )  # fmt: skip
    assert status == 201
    known, new, twice, deleted = (valid_phone() for _ in range(4))
    status, existing, _ = await team.agent.request(
        "POST", "/api/v1/contacts", json={"phone": known, "name": "Old Name", "tags": ["old"]}
    )
    assert status == 201
    status, gone, _ = await team.agent.request("POST", "/api/v1/contacts", json={"phone": deleted})
    await team.admin.request("DELETE", f"/api/v1/contacts/{gone['id']}")
    bad_phone = "+97151" + "1234567"  # 051 is not a UAE mobile prefix
    text = (
        "\ufeffPhone,Name,Email,Tags,attr:city\r\n"
        f"{known.removeprefix('+971').join(['0', ''])},New Name,,vip;gold,Dubai\r\n"
        f'{new},"Doe, Jane",jane@example.test,a|b,\r\n'
        f"{twice},First,,,Ajman\r\n"
        f"{bad_phone},Bad Phone,,,\r\n"
        f"{valid_phone()},Bad Email,not-an-email,,\r\n"
        f"{valid_phone()},Bad City,,,Paris\r\n"
        f'{twice},"Second\nLine",,x,\r\n'
        "\r\n"
        f"{deleted},Deleted,,,\r\n"
        f"{valid_phone()},too,many,columns,here,!\r\n"
    )
    status, body = await import_csv(team.agent, text)
    assert status == 200, body
    assert (body["created"], body["updated"], body["skipped"], body["invalid"]) == (2, 2, 1, 4)
    outcomes = {r["row"]: r for r in body["rows"]}
    assert outcomes[2]["outcome"] == "updated"
    assert outcomes[2]["contact_id"] == existing["id"]
    assert outcomes[3]["outcome"] == "created"
    assert outcomes[4]["outcome"] == "created"
    assert [outcomes[n]["outcome"] for n in (5, 6, 7)] == ["invalid"] * 3
    assert outcomes[8]["outcome"] == "updated"  # the same phone again later in the file
    assert outcomes[8]["contact_id"] == outcomes[4]["contact_id"]
    assert outcomes[11]["outcome"] == "skipped"  # line 8-9 is one quoted record; 10 blank
    assert outcomes[12]["outcome"] == "invalid"
    assert bad_phone not in str(body)
    assert "not-an-email" not in str(body)
    assert "Paris" not in str(body)

    assert await phone_count(inbox_world, team, known) == 1  # updated, not duplicated
    status, updated, _ = await team.agent.request("GET", f"/api/v1/contacts/{existing['id']}")
    assert updated["name"] == "New Name"
    assert updated["tags"] == ["gold", "old", "vip"]
    assert updated["attributes"] == {"city": "Dubai"}
    status, jane, _ = await team.agent.request(
        "GET", f"/api/v1/contacts/{outcomes[3]['contact_id']}"
    )
    assert (jane["name"], jane["email"], jane["tags"]) == (
        "Doe, Jane",
        "jane@example.test",
        ["a", "b"],
    )
    status, second, _ = await team.agent.request(
        "GET", f"/api/v1/contacts/{outcomes[8]['contact_id']}"
    )
    assert second["name"] == "Second Line"
    assert second["attributes"] == {"city": "Ajman"}
    assert second["tags"] == ["x"]
    async with tenant_transaction(inbox_world.pool, team.tenant_id) as conn:
        stored = await conn.fetchval("SELECT count(*) FROM contacts")
    assert stored == 4  # 2 made before (one soft-deleted) + 2 created; invalid rows never stored


async def test_import_rejects_bad_files_and_roles(inbox_world: Any) -> None:
    team = await inbox_world.team()
    status, body = await import_csv(team.viewer, "phone\n")
    assert status == 403, body
    status, body, _ = await team.agent.request(
        "POST", "/api/v1/contacts/import", json={"phone": valid_phone()}
    )
    assert status == 415, body
    for text in ("", "name,email\nx,y\n", "phone,attr:nope\n", "phone,shoe_size\n"):
        status, body = await import_csv(team.agent, text)
        assert status == 422, (text, body)
    status, body = await import_csv(team.agent, b"phone,name\n+971501234567,\xff\xfe\n")
    assert status == 422, body


async def test_import_size_and_row_limits(inbox_world: Any) -> None:
    team = await inbox_world.team()
    # Through the gateway: more than 10 MB never reaches the inbox.
    big = "phone,name\n" + ("x," + "a" * 1000 + "\n") * 10_500
    status, body = await import_csv(team.agent, big)
    assert status == 413, body

    # Straight to the inbox, chunked (no Content-Length): the inbox stops reading at 10 MB.
    first = valid_phone()

    async def chunks() -> AsyncIterator[bytes]:
        yield f"phone,name\n{first},First\n".encode()
        line = ("x," + "a" * 60_000 + "\n").encode()
        for _ in range(200):  # 12 MB
            yield line

    session = inbox_world.gateway.session
    async with session.post(
        inbox_world.inbox_url + "/api/v1/contacts/import", data=chunks(),
        headers={**CSV, "Authorization": f"Bearer {team.agent.token}"},
    ) as response:  # fmt: skip
        body = await response.json(content_type=None)
        assert response.status == 413, body
    assert body["type"].endswith("/import-too-large")
    assert body["created"] == 1
    assert await phone_count(inbox_world, team, first) == 1  # rows before the limit stay

    rows = "phone\n" + "x\n" * 50_001
    status, body = await import_csv(team.agent, rows)
    assert status == 413, body
    assert body["invalid"] == 50_000, body


def exported(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


async def test_export_neutralises_formulas_and_is_for_managers(inbox_world: Any) -> None:
    team = await inbox_world.team()
    await team.admin.request(
        "POST", "/api/v1/contact-attributes", json={"key": "notes", "label": "N", "type": "text"}
    )
    dangerous = {
        "=cmd|' /C calc'!A0": "\tcmd", "+SUM(1,2)": "\rcmd", "-2+3": "\x00cmd",
        "@SUM(A1)": "plain", "Safe Name": "=1+1",
    }  # fmt: skip
    phones = {}
    for name, note in dangerous.items():
        phone = valid_phone()
        status, body, _ = await team.agent.request(
            "POST", "/api/v1/contacts",
            json={"phone": phone, "name": name, "attributes": {"notes": note}, "tags": ["t"]},
        )  # fmt: skip
        assert status == 201, body
        phones[name] = phone
    status, body, _ = await team.agent.request("GET", "/api/v1/contacts/export.csv")
    assert status == 403, body
    status, text, response = await team.admin.request("GET", "/api/v1/contacts/export.csv")
    assert status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment")
    rows = exported(text)
    assert list(rows[0]) == [
        "id", "phone", "name", "email", "tags", "marketing", "processing_restricted",
        "created_at", "attr:notes",
    ]  # fmt: skip
    by_name = {r["name"].removeprefix("'"): r for r in rows}
    assert set(by_name) == set(dangerous)
    for name, note in dangerous.items():
        row = by_name[name]
        assert row["phone"] == "'" + phones[name]  # phone numbers start with "+": neutralised
        expected_name = name if name == "Safe Name" else "'" + name
        assert row["name"] == expected_name
        expected_note = note if note == "plain" else "'" + note
        assert row["attr:notes"] == expected_note
        assert row["tags"] == "t"
        assert row["marketing"] == "unknown"
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\x00")), cell

    # The export reads back: a neutralised phone imports as the same contact.
    status, body = await import_csv(team.agent, "phone,name\n'" + phones["Safe Name"] + ",Safe\n")
    assert status == 200, body
    assert body["updated"] == 1, body


async def test_export_and_import_stay_in_the_tenant(inbox_world: Any) -> None:
    mine, theirs = await inbox_world.team(), await inbox_world.team()
    phone = valid_phone()
    status, victim, _ = await theirs.agent.request(
        "POST", "/api/v1/contacts", json={"phone": phone, "name": "Victim"}
    )
    assert status == 201
    status, text, _ = await mine.owner.request("GET", "/api/v1/contacts/export.csv")
    assert status == 200
    assert exported(text) == []
    status, body = await import_csv(mine.agent, f"phone,name\n{phone},Mallory\n")
    assert status == 200, body
    assert body["created"] == 1, body
    status, body, _ = await theirs.agent.request("GET", f"/api/v1/contacts/{victim['id']}")
    assert body["name"] == "Victim"
    async with tenant_transaction(inbox_world.pool, theirs.tenant_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 1
    assert uuid.UUID(victim["id"])


async def test_import_emits_one_contact_changed_per_contact_without_personal_data(
    inbox_world: Any,
) -> None:
    """Like every other contact write, an import tells the bus (and so webhook subscribers)
    which contacts it created or updated: ids only, never a phone number or a name."""
    team = await inbox_world.team()
    known, new, twice = (valid_phone() for _ in range(3))
    names = ("Mariam Haddad", "Yousef Qasim", "Salem Nouri", "Salem Again")
    seen: list[dict[str, Any]] = []
    stop = await observe(
        inbox_world.publisher.bus, "csv-import", ("inbox.contact.changed",),
        lambda kind, payload: seen.append(payload),
    )  # fmt: skip
    try:
        status, existing, _ = await team.agent.request(
            "POST", "/api/v1/contacts", json={"phone": known, "name": "Before"}
        )
        assert status == 201
        rows = [(known, names[0], "vip"), (new, names[1], ""), (twice, names[2], "")]
        rows.append((twice, names[3], "x"))  # the same phone again: the same contact
        status, body = await import_csv(
            team.agent, "phone,name,tags\n" + "".join(",".join(r) + "\n" for r in rows)
        )
        assert status == 200, body
        assert (body["created"], body["updated"]) == (2, 2), body
        created = {r["contact_id"] for r in body["rows"] if r["outcome"] == "created"}
        expected = sorted(
            [(existing["id"], "created"), (existing["id"], "updated")]  # the POST, the import
            + [(contact_id, "created") for contact_id in created]
        )
        ours = {existing["id"], *created}

        def arrived() -> list[tuple[str, str]]:
            return sorted((p["contact_id"], p["change"]) for p in seen if p["contact_id"] in ours)

        async with asyncio.timeout(10):
            while arrived() != expected:  # noqa: ASYNC110  # filled by the observer
                await asyncio.sleep(0.05)
    finally:
        await stop()
    assert len(created) == 2  # one event per contact, not per row
    text = json.dumps([p for p in seen if p["contact_id"] in ours])
    for secret in (known, new, twice, *(p.lstrip("+") for p in (known, new, twice)), *names):
        assert secret not in text
