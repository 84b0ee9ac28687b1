"""Data-subject requests (PDPL) and the retention purge: export everything, erase for good.

Erasure deletes the contact row; its conversations, messages (encrypted bodies), media,
mentions, tags and lead go with it through ON DELETE CASCADE, and so do the flow run logs of
those conversations and the outbound-webhook deliveries that carried their messages (those
queued before migration 0039 are not marked and wait for the log's retention). An erasure
request also deletes the campaigns' rows of the person's number (found by its blind index
under the recipients' own field; the campaigns' counts keep them); the retention purge of a
contact the business deleted leaves its campaigns' records alone. Sends to the person that
still wait in the dispatcher (held, paced, backing off: a reply's, or a campaign's whose row
the erasure deleted) are failed and their payload dropped, so they never go out; one already
being sent is past recall. Database backups hold copies until
they expire on their own schedule (they are not rewritten). A
marker of the number stays, with the time (erased_identities, 0036; a keyed HMAC of the blind
index under a key of its own, so no blind index of the person outlives them), so that the
WhatsApp Business app's address book and chat history, which the owner's phone still holds,
do not bring the person back (inbox.contact_sync, inbox.history).

Soft-deleted contacts are purged the same way RETENTION_DAYS after deletion, by a background
task of every inbox replica (deleting twice is harmless: the second finds nothing). The
cross-tenant lookup goes through app.contacts_due_for_purge (0008), which returns ids only;
each delete then runs in its own tenant transaction as the system.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

import orjson
from aiohttp import web

from inbox import contact_attributes, contact_keys
from inbox import contacts_records_repository as records
from inbox import contacts_repository as repo
from inbox.contact_answers import ContactDataExportOut, ContactErasedOut
from inbox.contacts import marketing_state
from inbox.contacts_merge import LEAD_FIELD
from inbox.deps import INBOX_DEPS, InboxDeps
from inbox.inbound import BODY_FIELD
from inbox.web import MANAGER_ROLES, audit, caller, emit, path_id
from majlis.db import tenant_transaction
from majlis.events.inbox import ContactErased, InboxAuditRecorded
from majlis.http import ProblemError, RequestModel, parse_json, responds
from majlis.http.auth import caller_transaction
from majlis.logging import get_logger

log = get_logger(__name__)

# Other services' ciphertexts of a contact (migrations 0011, 0013): a campaign's recipients
# are found by the blind index of their number under this field; a lead's data is sealed
# under LEAD_FIELD.
RECIPIENT_PHONE_FIELD = "campaign_recipients.phone"
_CAMPAIGN_MOMENTS = ("queued_at", "sent_at", "delivered_at", "read_at", "replied_at",
                     "failed_at")  # fmt: skip
RETENTION_DAYS = 30
PURGE_INTERVAL_SECONDS = 60.0
PURGE_BATCH = 500


class EraseIn(RequestModel):
    """Body of POST /api/v1/contacts/{id}/erase: an explicit confirmation."""

    confirm: Literal[True]


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _body(deps: InboxDeps, tenant_id: UUID, sealed: bytes | None) -> Any:
    if sealed is None:
        return None
    plain = deps.cipher.decrypt(sealed, tenant_id=tenant_id, field=BODY_FIELD)
    try:
        return orjson.loads(plain)
    except orjson.JSONDecodeError:
        return plain.decode("utf-8", "replace")


async def _export(conn: Any, deps: InboxDeps, tenant_id: UUID, contact_id: UUID) -> dict[str, Any]:
    row = await repo.get_contact(conn, contact_id, include_deleted=True)
    if row is None:
        raise ProblemError(404, "Contact not found")

    def text(sealed: bytes | None, field: str) -> str | None:
        return (
            deps.cipher.decrypt_text(sealed, tenant_id=tenant_id, field=field) if sealed else None
        )

    conversations = await records.conversations_of(conn, contact_id)
    messages = await records.messages_of(conn, contact_id)
    lead = await records.lead_of(conn, contact_id)
    recipient = _recipient_key(deps, tenant_id, row.phone_enc)
    campaigns = await records.campaigns_to(conn, recipient, contact_id)
    return {
        "contact": {
            "id": str(row.id),
            "phone": text(row.phone_enc, contact_keys.PHONE_FIELD),
            "bsuid": text(row.bsuid_enc, contact_keys.BSUID_FIELD),
            "name": text(row.name_enc, contact_keys.NAME_FIELD),
            "email": text(row.email_enc, contact_keys.EMAIL_FIELD),
            "created_at": _time(row.created_at),
            "updated_at": _time(row.updated_at),
            "deleted_at": _time(row.deleted_at),
        },
        "tags": row.tags,
        # Everything stored, including values the current schema no longer shows.
        "attributes": contact_attributes.unseal(deps.cipher, tenant_id, row.attributes_enc),
        "consent": {
            "marketing": marketing_state(row.marketing_opt_in, row.marketing_opt_out),
            "processing_restricted": row.processing_restricted,
            "updated_at": _time(row.consent_updated_at),
        },
        "conversations": [
            {
                "id": str(c["id"]), "number_id": str(c["number_id"]), "status": c["status"],
                "created_at": _time(c["created_at"]), "updated_at": _time(c["updated_at"]),
                "resolved_at": _time(c["resolved_at"]),
                "last_message_at": _time(c["last_message_at"]),
            }
            for c in conversations
        ],
        "messages": [
            {
                "id": str(m["id"]), "conversation_id": str(m["conversation_id"]),
                "direction": m["direction"], "type": m["type"], "status": m["status"],
                "sender_kind": m["sender_kind"], "body": _body(deps, tenant_id, m["body_enc"]),
                "created_at": _time(m["created_at"]), "updated_at": _time(m["updated_at"]),
                "media": None if m["media_id"] is None else {
                    "id": str(m["media_id"]), "mime_type": m["mime_type"],
                    "file_size": m["file_size"], "sha256": m["sha256"],
                    "status": m["media_status"],
                },
            }
            for m in messages
        ],
        "campaigns": [
            {
                "campaign_id": str(c["campaign_id"]), "name": c["name"], "state": c["state"],
                **{key: _time(c[key]) for key in _CAMPAIGN_MOMENTS},
            }
            for c in campaigns
        ],
        "lead": None if lead is None else {
            "id": str(lead["id"]), "stage": lead["stage"], "source": lead["source"],
            "data": orjson.loads(deps.cipher.decrypt(lead["data_enc"], tenant_id=tenant_id,
                                                     field=LEAD_FIELD)),
            "created_at": _time(lead["created_at"]), "updated_at": _time(lead["updated_at"]),
        },
    }  # fmt: skip


@responds(ContactDataExportOut)
async def data_export(request: web.Request) -> web.Response:
    """`GET /api/v1/contacts/{id}/data-export` (owner/admin): all the contact's data as JSON."""
    identity = await caller(request, MANAGER_ROLES)
    contact_id = path_id(request, "contact_id", "Contact")
    deps = request.app[INBOX_DEPS]
    async with caller_transaction(deps.pool, identity) as conn:
        document = await _export(conn, deps, identity.tenant_id, contact_id)
        await audit(
            conn, request, "contacts.data_exported", target_type="contact", target_id=contact_id,
            details={"conversations": len(document["conversations"]),
                     "messages": len(document["messages"]),
                     "campaigns": len(document["campaigns"])},
        )  # fmt: skip
    return web.Response(
        body=orjson.dumps(document),
        content_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="contact-{contact_id}.json"',
            "Cache-Control": "private, no-store",
        },
    )


@responds(ContactErasedOut)
async def erase(request: web.Request) -> web.Response:
    """`POST /api/v1/contacts/{id}/erase` (owner/admin): delete the contact and all it holds."""
    identity = await caller(request, MANAGER_ROLES)
    contact_id = path_id(request, "contact_id", "Contact")
    await parse_json(request, EraseIn)
    deps = request.app[INBOX_DEPS]
    async with caller_transaction(deps.pool, identity) as conn:
        counts = await records.footprint(conn, contact_id)
        recipient = await _recipient_index(conn, deps, identity.tenant_id, contact_id)
        erased = await _erase(conn, deps, identity.tenant_id, contact_id, older_than=None)
        if erased is None:
            raise ProblemError(404, "Contact not found")
        recipients = await records.forget_campaign_recipients(conn, recipient, contact_id)
        cancelled = erased.sends_cancelled + await records.cancel_queued_sends(conn, recipients)
        await emit(
            conn, identity.tenant_id, ContactErased(contact_id=contact_id, reason="erasure_request")
        )
        details = {"conversations": counts.conversations, "messages": counts.messages,
                   "media": counts.media, "campaign_recipients": len(recipients),
                   "flow_logs": erased.flow_logs,
                   "webhook_deliveries": erased.webhook_deliveries,
                   "sends_cancelled": cancelled}  # fmt: skip
        await audit(conn, request, "contacts.erased", target_type="contact",
                    target_id=contact_id, details=details)  # fmt: skip
    return web.json_response({"id": str(contact_id), "erased": True, **details})


async def _recipient_index(
    conn: Any, deps: InboxDeps, tenant_id: UUID, contact_id: UUID
) -> bytes | None:
    """The blind index campaigns keep the contact's number under, or None without one."""
    row = await repo.get_contact(conn, contact_id, include_deleted=True)
    return None if row is None else _recipient_key(deps, tenant_id, row.phone_enc)


def _recipient_key(deps: InboxDeps, tenant_id: UUID, phone_enc: bytes | None) -> bytes | None:
    """The blind index of a sealed contact number under the campaign recipients' own field."""
    if phone_enc is None:
        return None
    phone = deps.cipher.decrypt_text(phone_enc, tenant_id=tenant_id,
                                     field=contact_keys.PHONE_FIELD)  # fmt: skip
    return deps.indexer.value(phone, tenant_id=tenant_id, field=RECIPIENT_PHONE_FIELD)


@dataclass(frozen=True, slots=True)
class _Erased:
    """What went with an erased contact besides its own rows and what cascades from them."""

    flow_logs: int
    webhook_deliveries: int
    sends_cancelled: int


async def _erase(
    conn: Any, deps: InboxDeps, tenant_id: UUID, contact_id: UUID, *, older_than: timedelta | None
) -> _Erased | None:
    """Delete the contact for good, the bot's run logs of its conversations and the webhook
    deliveries that carried their messages, cancel the sends of its messages still waiting,
    and remember the erasure of its number (a marker, not its blind index); None if there was
    no such contact (deleted long enough)."""
    conversations = await records.conversation_ids(conn, contact_id)
    unsent = await records.unsent_messages(conn, conversations)
    gone = await repo.delete_contact(conn, contact_id, older_than=older_than)
    if gone is None:
        return None
    if gone.phone_bidx is not None:
        marker = contact_keys.erasure_marker(deps.indexer, tenant_id, gone.phone_bidx)
        await repo.remember_erasure(conn, tenant_id, marker)
    return _Erased(
        await records.forget_flow_logs(conn, conversations),
        await records.forget_webhook_deliveries(conn, conversations),
        await records.stop_unsent_replies(conn, unsent),
    )


async def purge_due_contacts(
    deps: InboxDeps,
    *,
    retention: timedelta = timedelta(days=RETENTION_DAYS),
    limit: int = PURGE_BATCH,
) -> int:
    """Erase contacts soft-deleted longer than `retention` ago, in all tenants; returns how many."""
    pool = deps.pool
    due = await pool.fetch(
        "SELECT tenant_id, contact_id FROM app.contacts_due_for_purge($1, $2)", retention, limit
    )
    purged = 0
    for item in due:
        tenant_id, contact_id = item["tenant_id"], item["contact_id"]
        async with tenant_transaction(pool, tenant_id, "system") as conn:
            counts = await records.footprint(conn, contact_id)
            # Checked again inside the tenant: a restore since the lookup wins.
            erased = await _erase(conn, deps, tenant_id, contact_id, older_than=retention)
            if erased is None:
                continue
            await emit(
                conn, tenant_id, ContactErased(contact_id=contact_id, reason="retention_purge")
            )
            await emit(
                conn, tenant_id,
                InboxAuditRecorded(
                    action="contacts.purged", actor_type="system", target_type="contact",
                    target_id=str(contact_id),
                    details={"retention_days": retention.days,
                             "conversations": counts.conversations,
                             "messages": counts.messages, "media": counts.media,
                             "flow_logs": erased.flow_logs,
                             "webhook_deliveries": erased.webhook_deliveries,
                             "sends_cancelled": erased.sends_cancelled},
                ),
            )  # fmt: skip
        purged += 1
        log.info("contacts.purged", tenant_id=str(tenant_id), contact_id=str(contact_id))
    return purged


async def _purge_forever(deps: InboxDeps) -> None:
    while True:
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)
        try:
            await purge_due_contacts(deps)
        except Exception as error:  # noqa: BLE001  (a failing round must not end the job)
            # The next round retries; the error's type only (messages may quote values).
            log.warning("contacts.purge_failed", error=type(error).__name__)


async def purge_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the retention purge in the background while the app runs."""
    task = asyncio.create_task(_purge_forever(app[INBOX_DEPS]), name="contacts-purge")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def add_routes(app: web.Application) -> None:
    """Mount the data-subject request endpoints."""
    app.router.add_get("/api/v1/contacts/{contact_id}/data-export", data_export)
    app.router.add_post("/api/v1/contacts/{contact_id}/erase", erase)
