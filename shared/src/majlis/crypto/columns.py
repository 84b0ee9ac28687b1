"""The registry of encrypted columns, which key rotation (``majlis.crypto.reencrypt``) walks.

Every migration that adds an encrypted ``*_enc bytea`` column must add it here too, with the
field name its code encrypts under; tests/integration/test_reencrypt.py fails otherwise, so a
rotation can never silently leave a column under a retired key. Every table listed has the
primary key ``(tenant_id, id)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True, slots=True)
class EncryptedColumn:
    """One ciphertext column and the field name bound into its associated data."""

    table: str
    column: str
    field: str

    def __post_init__(self) -> None:
        # Names are interpolated into SQL by the re-encryption job: plain identifiers only.
        if not _IDENTIFIER.fullmatch(self.table) or not _IDENTIFIER.fullmatch(self.column):
            raise ValueError(f"not a plain identifier: {self.table}.{self.column}")
        if not self.field:
            raise ValueError("field must not be empty")

    @property
    def name(self) -> str:
        """``table.column``, the key of re-encryption counts."""
        return f"{self.table}.{self.column}"


def is_plain_identifier(name: str) -> bool:
    """True for a lower-case SQL identifier that needs no quoting."""
    return _IDENTIFIER.fullmatch(name) is not None


ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn("whatsapp_numbers", "access_token_enc", "whatsapp_numbers.access_token"),
    EncryptedColumn("contacts", "phone_enc", "contacts.phone"),
    EncryptedColumn("contacts", "bsuid_enc", "contacts.bsuid"),
    EncryptedColumn("contacts", "name_enc", "contacts.name"),
    EncryptedColumn("contacts", "email_enc", "contacts.email"),
    EncryptedColumn("contacts", "attributes_enc", "contacts.attributes"),
    EncryptedColumn("messages", "body_enc", "messages.body"),
    EncryptedColumn("media", "content_enc", "media.content"),
    EncryptedColumn("outbound_sends", "payload_enc", "outbound_sends.payload"),
    EncryptedColumn("templates", "content_enc", "templates.content"),
    EncryptedColumn("flow_sessions", "variables_enc", "flow_sessions.variables"),
    EncryptedColumn("flow_sessions", "pending_enc", "flow_sessions.pending"),
    EncryptedColumn("flow_logs", "detail_enc", "flow_logs.detail"),
    EncryptedColumn("campaigns", "parameters_enc", "campaigns.parameters"),
    EncryptedColumn("campaigns", "audience_enc", "campaigns.audience"),
    EncryptedColumn("campaign_recipients", "phone_enc", "campaign_recipients.phone"),
    EncryptedColumn("campaign_recipients", "parameters_enc", "campaign_recipients.parameters"),
    EncryptedColumn("knowledge_entries", "content_enc", "knowledge_entries.content"),
    EncryptedColumn("knowledge_documents", "title_enc", "knowledge_documents.title"),
    EncryptedColumn("knowledge_documents", "text_enc", "knowledge_documents.text"),
    EncryptedColumn("ai_settings", "api_key_enc", "ai_settings.api_key"),
    EncryptedColumn("leads", "data_enc", "leads.data"),
    EncryptedColumn("companion_numbers", "phone_enc", "companion_numbers.phone"),
    EncryptedColumn("webhook_endpoints", "secret_enc", "webhook_endpoints.secret"),
    EncryptedColumn(
        "webhook_endpoints", "previous_secret_enc", "webhook_endpoints.previous_secret"
    ),
    EncryptedColumn("webhook_deliveries", "payload_enc", "webhook_deliveries.payload"),
    EncryptedColumn("webhook_endpoints", "url_enc", "webhook_endpoints.url"),
    EncryptedColumn("user_two_factor", "secret_enc", "user_two_factor.secret"),
)


@dataclass(frozen=True, slots=True)
class PlaintextColumn:
    """A column that held plaintext before its encrypted twin existed (e.g. 0019's url).

    The key is never in the database, so a migration cannot encrypt: it adds the twin, makes
    the old column nullable and requires exactly one of the two to be set; Python then seals
    each row (``majlis.crypto.reencrypt.seal_plaintext``), clearing the plaintext.
    """

    column: str
    encrypted: EncryptedColumn

    def __post_init__(self) -> None:
        if not _IDENTIFIER.fullmatch(self.column):
            raise ValueError(f"not a plain identifier: {self.column}")

    @property
    def name(self) -> str:
        """``table.column`` of the plaintext column."""
        return f"{self.encrypted.table}.{self.column}"


def _registered(table: str, column: str) -> EncryptedColumn:
    return next(c for c in ENCRYPTED_COLUMNS if c.table == table and c.column == column)


PLAINTEXT_COLUMNS: tuple[PlaintextColumn, ...] = (
    PlaintextColumn("url", _registered("webhook_endpoints", "url_enc")),
)
