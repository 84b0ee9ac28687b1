"""SQL around a contact's records: merging contacts, counting and exporting what they hold.

Plain async functions, connection first, one statement each, `$n` parameters, inside a
tenant transaction (row-level security scopes every statement to its tenant).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from inbox.repository import Conn

IDENTIFIERS = (
    "phone_enc", "phone_bidx", "bsuid_enc", "bsuid_bidx",
    "name_enc", "name_bidx", "email_enc", "email_bidx",
)  # fmt: skip


async def identifiers(conn: Conn, contact_id: UUID) -> dict[str, bytes | None]:
    """A contact's identifier ciphertexts and blind indexes, as stored."""
    row = await conn.fetchrow(
        "SELECT phone_enc, phone_bidx, bsuid_enc, bsuid_bidx, name_enc, name_bidx,"
        " email_enc, email_bidx FROM contacts WHERE id = $1",
        contact_id,
    )
    return {name: (row[name] if row else None) for name in IDENTIFIERS}


async def fill_identifiers(conn: Conn, contact_id: UUID, source: dict[str, bytes | None]) -> None:
    """Give a contact the identifiers it lacks, ciphertext and blind index together."""
    # Ciphertexts are bound to tenant and column, not to the row: they can move as they are.
    await conn.execute(
        """
        UPDATE contacts SET
          phone_bidx = CASE WHEN phone_enc IS NULL THEN $2 ELSE phone_bidx END,
          phone_enc = coalesce(phone_enc, $1),
          bsuid_bidx = CASE WHEN bsuid_enc IS NULL THEN $4 ELSE bsuid_bidx END,
          bsuid_enc = coalesce(bsuid_enc, $3),
          name_bidx = CASE WHEN name_enc IS NULL THEN $6 ELSE name_bidx END,
          name_enc = coalesce(name_enc, $5),
          email_bidx = CASE WHEN email_enc IS NULL THEN $8 ELSE email_bidx END,
          email_enc = coalesce(email_enc, $7),
          updated_at = now()
        WHERE id = $9
        """,
        *(source[name] for name in IDENTIFIERS),
        contact_id,
    )


async def open_conversation_pairs(conn: Conn, source_id: UUID, target_id: UUID) -> list[Any]:
    """(source, target) unresolved conversations on the same number: they must become one."""
    return list(
        await conn.fetch(
            "SELECT s.id AS source_id, t.id AS target_id FROM conversations s"
            " JOIN conversations t ON t.number_id = s.number_id AND t.contact_id = $2"
            "  AND t.status <> 'resolved'"
            " WHERE s.contact_id = $1 AND s.status <> 'resolved'",
            source_id,
            target_id,
        )
    )


async def history_clashes(
    conn: Conn, from_conversation: UUID, to_conversation: UUID
) -> list[tuple[UUID, int]]:
    """Messages of the WhatsApp Business app's history (seq below zero, derived from their time:
    inbox.history) whose seq the other conversation holds too: (id, seq), lowest seq first."""
    rows = await conn.fetch(
        "SELECT m.id, m.seq FROM messages m WHERE m.conversation_id = $1 AND m.seq < 0"
        " AND EXISTS (SELECT 1 FROM messages o WHERE o.conversation_id = $2 AND o.seq = m.seq)"
        " ORDER BY m.seq",
        from_conversation,
        to_conversation,
    )
    return [(row["id"], row["seq"]) for row in rows]


async def take_free_seq(
    conn: Conn, message_id: UUID, conversations: tuple[UUID, UUID], seq_limit: int
) -> int | None:
    """Give a message the next seq after its own, up to `seq_limit`, that neither conversation
    holds; the new seq, or None if every one is taken (the message keeps its own)."""
    seq: int | None = await conn.fetchval(
        "UPDATE messages m SET seq = f.s, updated_at = now()"
        " FROM (SELECT s FROM messages c, generate_series(c.seq + 1, $4) AS s WHERE c.id = $1"
        "   AND NOT EXISTS (SELECT 1 FROM messages x WHERE x.conversation_id IN ($2, $3)"
        "   AND x.seq = s) ORDER BY s LIMIT 1) AS f"
        " WHERE m.id = $1 RETURNING m.seq",
        message_id, conversations[0], conversations[1], seq_limit,
    )  # fmt: skip
    return seq


async def move_messages(conn: Conn, from_conversation: UUID, to_conversation: UUID) -> int:
    """Move a conversation's messages into another; returns how many moved."""
    # A client's retry key is only unique per conversation: a clash keeps the target's.
    status = await conn.execute(
        """
        UPDATE messages m SET conversation_id = $2, updated_at = now(),
          idempotency_key = CASE WHEN EXISTS (
              SELECT 1 FROM messages o WHERE o.conversation_id = $2
              AND o.idempotency_key = m.idempotency_key) THEN NULL ELSE m.idempotency_key END
        WHERE m.conversation_id = $1
        """,
        from_conversation,
        to_conversation,
    )
    return int(status.rsplit(" ", 1)[-1])


async def move_labels(conn: Conn, from_conversation: UUID, to_conversation: UUID) -> None:
    """Copy a conversation's labels onto another."""
    await conn.execute(
        "INSERT INTO conversation_labels (tenant_id, conversation_id, label_id)"
        " SELECT tenant_id, $2, label_id FROM conversation_labels WHERE conversation_id = $1"
        " ON CONFLICT DO NOTHING",
        from_conversation,
        to_conversation,
    )


async def absorb_conversation(conn: Conn, from_conversation: UUID, to_conversation: UUID) -> None:
    """Fold a conversation's activity markers into another, then delete it."""
    await conn.execute(
        """
        UPDATE conversations t SET
          last_message_at = greatest(t.last_message_at, s.last_message_at),
          last_customer_message_at = greatest(t.last_customer_message_at,
                                              s.last_customer_message_at),
          last_message_seq = greatest(t.last_message_seq, s.last_message_seq),
          unread_count = t.unread_count + s.unread_count,
          updated_at = now()
        FROM conversations s WHERE t.id = $2 AND s.id = $1
        """,
        from_conversation,
        to_conversation,
    )
    await conn.execute("DELETE FROM conversations WHERE id = $1", from_conversation)


async def repoint_leads(conn: Conn, from_conversation: UUID, to_conversation: UUID) -> None:
    """Leads that name a conversation about to be absorbed name the one absorbing it."""
    await conn.execute(
        "UPDATE leads SET conversation_id = $2 WHERE conversation_id = $1",
        from_conversation,
        to_conversation,
    )


async def leads_of(conn: Conn, *contact_ids: UUID) -> dict[UUID, Any]:
    """The leads of these contacts (chatflow's, one per contact) by contact id, locked."""
    rows = await conn.fetch(
        "SELECT id, contact_id, stage, data_enc FROM leads WHERE contact_id = ANY($1::uuid[])"
        " ORDER BY id FOR UPDATE",
        list(contact_ids),
    )
    return {row["contact_id"]: row for row in rows}


async def lead_of(conn: Conn, contact_id: UUID) -> Any:
    """The contact's lead, as stored, or None."""
    return await conn.fetchrow(
        "SELECT id, stage, source, data_enc, created_at, updated_at FROM leads"
        " WHERE contact_id = $1",
        contact_id,
    )


async def campaigns_to(conn: Conn, phone_bidx: bytes | None, contact_id: UUID) -> list[Any]:
    """The campaigns sent to a number (its recipient rows by the recipients' blind index) or to
    the contact (rows kept from before its number changed), oldest first."""
    return list(
        await conn.fetch(
            "SELECT r.campaign_id, c.name, r.state, r.queued_at, r.sent_at, r.delivered_at,"
            " r.read_at, r.replied_at, r.failed_at FROM campaign_recipients r"
            " JOIN campaigns c ON c.tenant_id = r.tenant_id AND c.id = r.campaign_id"
            " WHERE r.phone_bidx = $1 OR r.contact_id = $2 ORDER BY c.created_at, c.id",
            phone_bidx,
            contact_id,
        )
    )


async def conversation_ids(conn: Conn, contact_id: UUID) -> list[UUID]:
    """The ids of the contact's conversations."""
    rows = await conn.fetch("SELECT id FROM conversations WHERE contact_id = $1", contact_id)
    return [row["id"] for row in rows]


async def forget_flow_logs(conn: Conn, conversations: list[UUID]) -> int:
    """Delete the flow run logs of these conversations (their detail may hold what the person
    answered); how many."""
    status = await conn.execute(
        "DELETE FROM flow_logs WHERE conversation_id = ANY($1::uuid[])", conversations
    )
    return int(status.rsplit(" ", 1)[-1])


async def forget_webhook_deliveries(conn: Conn, conversations: list[UUID]) -> int:
    """Delete the outbound-webhook deliveries that carry a message of these conversations
    (migration 0039); how many."""
    status = await conn.execute(
        "DELETE FROM webhook_deliveries WHERE conversation_id = ANY($1::uuid[])", conversations
    )
    return int(status.rsplit(" ", 1)[-1])


async def forget_campaign_recipients(
    conn: Conn, phone_bidx: bytes | None, contact_id: UUID
) -> list[UUID]:
    """Delete the campaign rows of a number or of the contact (as `campaigns_to` finds them:
    their ciphertext and rendered parameters); their ids, which are their sends' ids. The
    campaigns' counts keep them (no trigger counts a delete)."""
    rows = await conn.fetch(
        "DELETE FROM campaign_recipients WHERE phone_bidx = $1 OR contact_id = $2 RETURNING id",
        phone_bidx,
        contact_id,
    )
    return [row["id"] for row in rows]


async def repoint_campaign_recipients(conn: Conn, source_id: UUID, target_id: UUID) -> int:
    """Give the campaign rows of a merged-away contact to the contact that absorbed it; how
    many (their delivery times and states stay as they were)."""
    status = await conn.execute(
        "UPDATE campaign_recipients SET contact_id = $2 WHERE contact_id = $1",
        source_id,
        target_id,
    )
    return int(status.rsplit(" ", 1)[-1])


async def unsent_messages(conn: Conn, conversations: list[UUID]) -> list[Any]:
    """The outbound messages of these conversations not sent yet (id, conversation_id and the
    conversation's number_id); their ids are their sends'."""
    return list(
        await conn.fetch(
            "SELECT m.id, m.conversation_id, c.number_id FROM messages m"
            " JOIN conversations c ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id"
            " WHERE m.conversation_id = ANY($1::uuid[]) AND m.direction = 'outbound'"
            " AND m.status IN ('queued', 'sending')",
            conversations,
        )
    )


async def stop_unsent_replies(conn: Conn, unsent: list[Any]) -> int:
    """Stop the sends of these messages (rows of `unsent_messages`); how many were stopped.

    A send still waiting in the dispatcher (held, paced or backing off) is failed and loses
    its payload. A message whose send command has not reached the dispatcher yet (still in
    the outbox or on the bus) gets its send row now, already failed: the dispatcher then finds
    the command's send final and sends nothing (as for a redelivered command). One already
    being sent ('sending') is past recall."""
    status = await conn.execute(
        "INSERT INTO outbound_sends AS s (tenant_id, id, number_id, conversation_id, state,"
        " error_title) SELECT app.current_tenant_id(), u.id, u.number_id, u.conversation_id,"
        " 'failed', 'contact-erased'"
        " FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS u (id, number_id, conversation_id)"
        " ON CONFLICT (tenant_id, id) DO UPDATE SET state = 'failed', payload_enc = NULL,"
        " next_attempt_at = NULL, error_title = 'contact-erased', updated_at = now()"
        " WHERE s.state = 'queued'",
        [row["id"] for row in unsent],
        [row["number_id"] for row in unsent],
        [row["conversation_id"] for row in unsent],
    )
    return int(status.rsplit(" ", 1)[-1])


async def cancel_queued_sends(conn: Conn, send_ids: list[UUID]) -> int:
    """Fail the dispatcher's sends of these ids that still wait (held, paced or backing off),
    dropping their payload, so that they never go out; how many. One already being sent
    ('sending') is past recall. The dispatcher skips a send that is no longer queued. For
    campaign sends: the runner writes a recipient's send row before its command goes out."""
    status = await conn.execute(
        "UPDATE outbound_sends SET state = 'failed', payload_enc = NULL, next_attempt_at = NULL,"
        " error_title = 'contact-erased', updated_at = now()"
        " WHERE id = ANY($1::uuid[]) AND state = 'queued'",
        send_ids,
    )
    return int(status.rsplit(" ", 1)[-1])


async def move_lead(conn: Conn, lead_id: UUID, contact_id: UUID) -> None:
    """Give a lead to another contact (who has none)."""
    await conn.execute(
        "UPDATE leads SET contact_id = $2, updated_at = now() WHERE id = $1", lead_id, contact_id
    )


async def rewrite_lead(conn: Conn, lead_id: UUID, stage: str, data_enc: bytes) -> None:
    """Set a lead's stage and data."""
    await conn.execute(
        "UPDATE leads SET stage = $2, data_enc = $3, updated_at = now() WHERE id = $1",
        lead_id,
        stage,
        data_enc,
    )


async def reassign_conversations(conn: Conn, source_id: UUID, target_id: UUID) -> int:
    """Give every conversation of one contact to another; returns how many moved."""
    status = await conn.execute(
        "UPDATE conversations SET contact_id = $2, updated_at = now() WHERE contact_id = $1",
        source_id,
        target_id,
    )
    return int(status.rsplit(" ", 1)[-1])


async def copy_tags(conn: Conn, source_id: UUID, target_id: UUID) -> None:
    """Give one contact the tags of another too."""
    await conn.execute(
        "INSERT INTO contact_tags (tenant_id, contact_id, tag)"
        " SELECT tenant_id, $2, tag FROM contact_tags WHERE contact_id = $1"
        " ON CONFLICT DO NOTHING",
        source_id,
        target_id,
    )


@dataclass(frozen=True, slots=True)
class Footprint:
    """How many rows a contact's erasure removes with it."""

    conversations: int
    messages: int
    media: int


async def footprint(conn: Conn, contact_id: UUID) -> Footprint:
    """Counts of the contact's conversations, messages and media."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM conversations WHERE contact_id = $1) AS conversations,
               (SELECT count(*) FROM messages m JOIN conversations c
                  ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id
                WHERE c.contact_id = $1) AS messages,
               (SELECT count(*) FROM media md JOIN messages m
                  ON m.tenant_id = md.tenant_id AND m.id = md.message_id
                JOIN conversations c ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id
                WHERE c.contact_id = $1) AS media
        """,
        contact_id,
    )
    assert row is not None  # a SELECT without FROM yields one row
    return Footprint(row["conversations"], row["messages"], row["media"])


async def conversations_of(conn: Conn, contact_id: UUID) -> list[Any]:
    """The contact's conversations, oldest first."""
    return list(
        await conn.fetch(
            "SELECT id, number_id, status, assigned_user_id, created_at, updated_at,"
            " resolved_at, last_message_at FROM conversations WHERE contact_id = $1"
            " ORDER BY created_at, id",
            contact_id,
        )
    )


async def messages_of(conn: Conn, contact_id: UUID) -> list[Any]:
    """Every message of the contact's conversations with its media metadata, in order."""
    return list(
        await conn.fetch(
            """
            SELECT m.id, m.conversation_id, m.direction, m.type, m.status, m.body_enc,
                   m.sender_kind, m.created_at, m.updated_at,
                   md.id AS media_id, md.mime_type, md.file_size, md.sha256,
                   md.status AS media_status
            FROM messages m
            JOIN conversations c ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id
            LEFT JOIN media md ON md.tenant_id = m.tenant_id AND md.message_id = m.id
            WHERE c.contact_id = $1
            ORDER BY m.created_at, m.seq
            """,
            contact_id,
        )
    )


# CSV import ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportMatch:
    """A contact an imported row's phone number already belongs to."""

    id: UUID
    is_deleted: bool
    attributes_enc: bytes | None
    tags: list[str]


async def contacts_by_phone(conn: Conn, phone_bidxs: list[bytes]) -> dict[bytes, ImportMatch]:
    """Contacts holding these phone blind indexes (live or soft-deleted), locked for update."""
    rows = await conn.fetch(
        "SELECT c.phone_bidx, c.id, c.deleted_at IS NOT NULL AS is_deleted, c.attributes_enc,"
        " coalesce((SELECT array_agg(t.tag) FROM contact_tags t"
        "           WHERE t.tenant_id = c.tenant_id AND t.contact_id = c.id), '{}') AS tags"
        " FROM contacts c WHERE c.phone_bidx = ANY($1::bytea[]) FOR UPDATE OF c",
        phone_bidxs,
    )
    return {
        bytes(r["phone_bidx"]): ImportMatch(
            r["id"], r["is_deleted"], r["attributes_enc"], list(r["tags"])
        )
        for r in rows
    }


@dataclass
class ImportedContact:
    """What a batch writes for one contact: new or changed sealed fields."""

    id: UUID
    phone: tuple[bytes, bytes] | None = None  # set for new contacts only
    name: tuple[bytes | None, bytes | None] = (None, None)
    email: tuple[bytes | None, bytes | None] = (None, None)
    attributes: dict[str, Any] | None = None
    attributes_enc: bytes | None = None
    tags: list[str] | None = None


async def insert_imported(conn: Conn, tenant_id: UUID, new: list[ImportedContact]) -> set[UUID]:
    """Create contacts in bulk; returns the ids created (a phone taken meanwhile is skipped)."""
    rows = await conn.fetch(
        "INSERT INTO contacts (tenant_id, id, phone_enc, phone_bidx, name_enc, name_bidx,"
        " email_enc, email_bidx, attributes_enc)"
        " SELECT $1, u.* FROM unnest($2::uuid[], $3::bytea[], $4::bytea[], $5::bytea[],"
        "  $6::bytea[], $7::bytea[], $8::bytea[], $9::bytea[]) AS u"
        " ON CONFLICT DO NOTHING RETURNING id",
        tenant_id,
        [c.id for c in new],
        [c.phone[0] if c.phone else None for c in new],
        [c.phone[1] if c.phone else None for c in new],
        [c.name[0] for c in new],
        [c.name[1] for c in new],
        [c.email[0] for c in new],
        [c.email[1] for c in new],
        [c.attributes_enc for c in new],
    )
    return {r["id"] for r in rows}


async def update_imported(conn: Conn, changed: list[ImportedContact]) -> set[UUID]:
    """Overwrite the names, e-mails and attributes an import brought, in bulk; the ids updated
    (a contact soft-deleted meanwhile is not)."""
    rows = await conn.fetch(
        """
        UPDATE contacts c SET
          name_bidx = CASE WHEN u.name_enc IS NULL THEN c.name_bidx ELSE u.name_bidx END,
          name_enc = coalesce(u.name_enc, c.name_enc),
          email_bidx = CASE WHEN u.email_enc IS NULL THEN c.email_bidx ELSE u.email_bidx END,
          email_enc = coalesce(u.email_enc, c.email_enc),
          attributes_enc = CASE WHEN u.set_attributes THEN u.attributes_enc
                                ELSE c.attributes_enc END,
          updated_at = now()
        FROM unnest($1::uuid[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[],
                    $6::boolean[], $7::bytea[])
          AS u(id, name_enc, name_bidx, email_enc, email_bidx, set_attributes, attributes_enc)
        WHERE c.id = u.id AND c.deleted_at IS NULL
        RETURNING c.id
        """,
        [c.id for c in changed],
        [c.name[0] for c in changed],
        [c.name[1] for c in changed],
        [c.email[0] for c in changed],
        [c.email[1] for c in changed],
        [c.attributes is not None for c in changed],
        [c.attributes_enc for c in changed],
    )
    return {r["id"] for r in rows}
