"""The WhatsApp Business app's address book, for a number shared with the app (coexistence).

Once a business is onboarded, Meta sends every contact of the app's address book as
`smb_app_state_sync` webhooks, then each contact the business adds, edits or removes on the
phone. A contact added (or edited) there is found by the blind index of its number or created,
with the name the business gave it: so the team's contacts match the owner's phone before the
first message, and a customer's conversation shows the name the business knows them by.

What the address book never does here: overwrite a name the contact already has (the
customer's profile, or what an agent typed, stays), bring back a person erased after the phone
saved them (erased_identities), or delete anything. A contact removed from
the phone is only logged: the CRM keeps it, its conversations and its consent, as deleting
a contact is a person's decision in Majlis (soft delete, restore, erasure), not the phone's.

Runs inside the idempotent consumer's tenant transaction: the claim, the contact and its
event commit together or not at all.
"""

from __future__ import annotations

from datetime import UTC, datetime

from inbox import repository
from inbox.content import address_book_identity
from inbox.deps import InboxDeps
from inbox.inbound import erasure_of, find_or_create_contact, note_coexistence
from inbox.repository import Conn
from majlis.events import Envelope
from majlis.events.webhook_ingest import ContactSyncReceived
from majlis.logging import get_logger

log = get_logger(__name__)


def _changed_at(event: ContactSyncReceived) -> datetime:
    """When the business changed the contact on the phone (`metadata.timestamp`), else when
    the webhook came."""
    metadata = event.change.get("metadata")
    stamp = metadata.get("timestamp") if isinstance(metadata, dict) else None
    if isinstance(stamp, str) and stamp.isdigit() and len(stamp) <= 12:
        return datetime.fromtimestamp(int(stamp), UTC)
    return event.received_at


async def apply_contact_sync(
    conn: Conn, event: ContactSyncReceived, envelope: Envelope, deps: InboxDeps
) -> None:
    """Create (or complete the name of) the contact an address-book change names."""
    number_id = await repository.number_id_for(conn, event.phone_number_id)
    if number_id is None:
        # Not a number of this tenant's (RLS hides the others'): nothing for anyone.
        log.warning("inbox.number_unknown", phone_number_id=event.phone_number_id)
        return
    await note_coexistence(conn, number_id)
    action = event.change.get("action")
    if action != "add":
        log.info("inbox.contact_sync_kept", action=str(action)[:16])
        return
    identity = address_book_identity(event.change, deps.phone_region)
    if identity is None or identity.phone is None:
        log.warning("inbox.contact_sync_unidentified")
        return
    erased = await erasure_of(conn, envelope.tenant_id, identity.phone, deps)
    if erased is not None and _changed_at(event) <= erased:
        # The person was erased after the phone saved them: the phone does not bring them
        # back (saving the number again on the phone, later, does).
        log.info("inbox.contact_sync_erased")
        return
    # Creates it (ContactChanged "created"), or fills a name it lacks ("updated").
    await find_or_create_contact(conn, envelope.tenant_id, identity, deps)
