"""What our sends ask Meta to echo in their status webhooks (`biz_opaque_callback_data`).

The broadcast service's dispatcher writes it; the broadcast service (settling, campaign
progress) and the inbox read it back. A campaign's send echoes its bare id, which is also its
recipient's id (campaign progress moves that recipient). Every other send (bot and agent
replies, API messages) echoes its id after `INTERACTIVE_TAG`, so that campaign progress passes
over their statuses without a query: three statuses per reply used to cost three transactions
that could find nothing. Sends made before the tag existed echo a bare id; they are still
settled, and campaign progress looks them up as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

INTERACTIVE_TAG = "i:"


@dataclass(frozen=True, slots=True)
class Echo:
    """A send id read back from a status webhook."""

    send_id: UUID
    # True only for a tagged (non-campaign) send; a bare id may be either.
    interactive: bool


def callback_data(send_id: UUID, *, bulk: bool) -> str:
    """The value a send carries as biz_opaque_callback_data."""
    return str(send_id) if bulk else INTERACTIVE_TAG + str(send_id)


def read_echo(echoed: object) -> Echo | None:
    """Our send id from an echoed value; None if it is not ours (another tool's, malformed)."""
    if not isinstance(echoed, str):
        return None
    interactive = echoed.startswith(INTERACTIVE_TAG)
    try:
        return Echo(UUID(echoed.removeprefix(INTERACTIVE_TAG)), interactive)
    except ValueError:
        return None
