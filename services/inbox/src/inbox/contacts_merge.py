"""Merging two contacts of one person into one: conversations, tags, attributes, identifiers,
the lead and the campaign rows sent to the merged-away contact.

The merge runs as the *system* database role of the caller's tenant. Agents may merge (the
product decision recorded in 0005's comment), but the RLS policy lets only owners, admins and
the system DELETE contacts; the view has checked the caller's role before this runs, the
tenant still comes from the verified token (RLS keeps the tenant wall), and the audit entry
names the real caller.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from aiohttp import web

from inbox import contact_attributes
from inbox import contacts_records_repository as records
from inbox import contacts_repository as repo
from inbox.contact_attributes import Schema
from inbox.contacts_repository import ContactPatch, ContactRow
from inbox.deps import InboxDeps
from inbox.history import last_seq_of_second
from inbox.repository import Conn
from inbox.web import audit, emit
from majlis.db import tenant_transaction
from majlis.events.inbox import ContactMerged
from majlis.http import ProblemError
from majlis.http.auth import Identity

# Chatflow's lead of a contact (migration 0013): its data sealed under this field, as a JSON
# object of chatflow.leads.model.FIELDS; its stage moves forward, won and lost being final.
LEAD_FIELD = "leads.data"
_STAGE_RANK = {"new": 0, "qualified": 1, "won": 2, "lost": 2}
_BUDGET = ("budget_amount", "budget_currency")


async def merge(
    request: web.Request, deps: InboxDeps, identity: Identity, target_id: UUID, source_id: UUID
) -> tuple[ContactRow, Schema]:
    """Fold `source_id` into `target_id` and delete the source; 404 if either is unknown."""
    tenant_id = identity.tenant_id
    async with tenant_transaction(
        deps.pool, tenant_id, "system", user_id=identity.principal_id
    ) as conn:
        # Both rows locked in id order, so two merges of the same pair cannot deadlock.
        locked = {}
        for contact_id in sorted((target_id, source_id)):
            locked[contact_id] = await repo.get_contact(conn, contact_id, for_update=True)
        target, source = locked[target_id], locked[source_id]
        if target is None or source is None:
            raise ProblemError(404, "Contact not found")
        schema = await contact_attributes.load_schema(conn)
        moved_messages = 0
        for pair in await records.open_conversation_pairs(conn, source_id, target_id):
            await _free_history_seqs(conn, pair["source_id"], pair["target_id"])
            moved_messages += await records.move_messages(
                conn, pair["source_id"], pair["target_id"]
            )
            await records.move_labels(conn, pair["source_id"], pair["target_id"])
            await records.repoint_leads(conn, pair["source_id"], pair["target_id"])
            await records.absorb_conversation(conn, pair["source_id"], pair["target_id"])
        moved_conversations = await records.reassign_conversations(conn, source_id, target_id)
        await records.copy_tags(conn, source_id, target_id)
        campaign_rows = await records.repoint_campaign_recipients(conn, source_id, target_id)
        lead = await _keep_lead(conn, deps, tenant_id, source_id, target_id)
        source_ids = await records.identifiers(conn, source_id)
        # The source goes first: its blind indexes are UNIQUE and must be free for the target.
        await repo.delete_contact(conn, source_id, older_than=None)
        await records.fill_identifiers(conn, target_id, source_ids)
        await repo.update_contact(conn, target_id, _merged(deps, tenant_id, target, source))
        merged = await repo.get_contact(conn, target_id)
        await emit(conn, tenant_id, ContactMerged(source_id=source_id, target_id=target_id))
        await audit(
            conn, request, "contacts.merged", target_type="contact", target_id=target_id,
            details={"source_id": str(source_id), "conversations_moved": moved_conversations,
                     "messages_moved": moved_messages, "campaign_rows_moved": campaign_rows,
                     "lead": lead},
        )  # fmt: skip
    assert merged is not None
    return merged, schema


async def _free_history_seqs(conn: Conn, source: UUID, target: UUID) -> None:
    """Pages of messages are cut by seq, so two messages of one conversation may not share
    one. Live seqs are unique in the tenant, but a history message's comes from its time and
    place in its thread, and two conversations' may be equal: before the source's messages
    join the target, each such one takes the next seq free in both, within its second (as
    inbox.history does when it stores one)."""
    for message_id, seq in await records.history_clashes(conn, source, target):
        await records.take_free_seq(conn, message_id, (source, target), last_seq_of_second(seq))


async def _keep_lead(
    conn: Conn, deps: InboxDeps, tenant_id: UUID, source_id: UUID, target_id: UUID
) -> str | None:
    """The source's lead survives the merge (deleting the source would take it along): it
    moves to the target, or, when the target has one of its own, fills what that one does not
    know and brings its stage if further along. "moved", "combined", or None (no lead)."""
    leads = await records.leads_of(conn, source_id, target_id)
    source, target = leads.get(source_id), leads.get(target_id)
    if source is None:
        return None
    if target is None:
        await records.move_lead(conn, source["id"], target_id)
        return "moved"
    cipher = deps.cipher
    kept, other = (
        orjson.loads(cipher.decrypt(row["data_enc"], tenant_id=tenant_id, field=LEAD_FIELD))
        for row in (target, source)
    )
    stage = target["stage"]
    if _STAGE_RANK[source["stage"]] > _STAGE_RANK[stage]:
        stage = source["stage"]
    sealed = cipher.encrypt(orjson.dumps(folded_lead(kept, other)), tenant_id=tenant_id,
                            field=LEAD_FIELD)  # fmt: skip
    await records.rewrite_lead(conn, target["id"], stage, sealed)
    return "combined"


def folded_lead(kept: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """A lead's data with what only `other` knows added; the budget's amount and currency
    come together or not at all."""
    folded = dict(kept)
    for key, value in other.items():
        if key in _BUDGET or value in (None, "") or folded.get(key) not in (None, ""):
            continue
        folded[key] = value
    if folded.get("budget_amount") is None and other.get("budget_amount") is not None:
        folded.update({key: other.get(key) for key in _BUDGET})
    return folded


def _merged(
    deps: InboxDeps, tenant_id: UUID, target: ContactRow, source: ContactRow
) -> ContactPatch:
    """Attributes (the target wins), consent (an opt-out wins) and restriction (either)."""
    cipher = deps.cipher
    values = {
        **contact_attributes.unseal(cipher, tenant_id, source.attributes_enc),
        **contact_attributes.unseal(cipher, tenant_id, target.attributes_enc),
    }
    opt_out = target.marketing_opt_out or source.marketing_opt_out
    opt_in = not opt_out and (target.marketing_opt_in or source.marketing_opt_in)
    consent = (opt_in, opt_out)
    restricted = target.processing_restricted or source.processing_restricted
    return ContactPatch(
        attributes_enc=(contact_attributes.seal(cipher, tenant_id, values),),
        consent=consent if consent != (target.marketing_opt_in, target.marketing_opt_out) else None,
        processing_restricted=(restricted if restricted != target.processing_restricted else None),
    )
