"""AI lead capture: extraction, one lead per contact, and the `/api/v1/leads` API.

Public: `capture_lead` (for the flow engine and the AI bot), `Lead`, `LeadData`.
"""

from chatflow.leads.capture import UnknownContact, capture_lead
from chatflow.leads.model import Lead, LeadData

__all__ = ["Lead", "LeadData", "UnknownContact", "capture_lead"]
