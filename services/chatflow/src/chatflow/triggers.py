"""What starts a flow: keyword, first message, button payload, campaign reply, API call.

A flow's triggers are its settings (not part of a version). For an inbound message without an
active session, every published flow of the tenant for that number (or for all numbers) is
tried, highest priority first (then oldest): the first whose trigger matches starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, model_validator

from chatflow.text_matching import normalise, regex_problem

# The text a regex trigger sees is cut to this length (bounds a pathological pattern's work).
REGEX_TEXT_CHARS = 4096


class _Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeywordTrigger(_Trigger):
    """The message text equals, contains or matches (regex) a keyword, case-insensitively."""

    type: Literal["keyword"]
    match: Literal["exact", "contains", "regex"] = "exact"
    value: Annotated[str, StringConstraints(min_length=1, max_length=200)]

    @model_validator(mode="after")
    def _compiles(self) -> KeywordTrigger:
        if self.match == "regex":
            problem = regex_problem(self.value)
            if problem is not None:
                raise ValueError(f"bad regular expression: {problem}")
        return self


class FirstMessageTrigger(_Trigger):
    """The conversation's first message from the customer."""

    type: Literal["first_message"]


class ButtonTrigger(_Trigger):
    """A tapped button (template quick reply or interactive reply) with this payload or id."""

    type: Literal["button"]
    payload: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class CampaignReplyTrigger(_Trigger):
    """A reply (WhatsApp context) to a message a campaign sent."""

    type: Literal["campaign_reply"]


class ApiTrigger(_Trigger):
    """Started only through `POST /api/v1/flows/{id}/runs`."""

    type: Literal["api"]


Trigger = Annotated[
    KeywordTrigger | FirstMessageTrigger | ButtonTrigger | CampaignReplyTrigger | ApiTrigger,
    Field(discriminator="type"),
]
TRIGGERS = TypeAdapter(list[Trigger])


@dataclass(frozen=True, slots=True)
class Inbound:
    """What the engine knows about an inbound message, for matching and as the run's input."""

    text: str | None
    button_payload: str | None
    is_first_message: bool
    is_campaign_reply: bool

    @property
    def input(self) -> str:
        """The message as one string: the button payload/row id or the text."""
        return self.button_payload or self.text or ""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A published flow that might start."""

    flow_id: UUID
    version_id: UUID
    triggers: list[Trigger]


def matches(trigger: Trigger, inbound: Inbound) -> bool:
    """Whether one trigger fires for a message."""
    if isinstance(trigger, KeywordTrigger):
        if inbound.text is None:
            return False
        if trigger.match == "regex":
            text = inbound.text[:REGEX_TEXT_CHARS]
            return re.search(trigger.value, text, re.IGNORECASE) is not None
        text, keyword = normalise(inbound.text), normalise(trigger.value)
        return text == keyword if trigger.match == "exact" else keyword in text
    if isinstance(trigger, FirstMessageTrigger):
        return inbound.is_first_message
    if isinstance(trigger, ButtonTrigger):
        return inbound.button_payload == trigger.payload
    if isinstance(trigger, CampaignReplyTrigger):
        return inbound.is_campaign_reply
    return False


def first_match(candidates: list[Candidate], inbound: Inbound) -> Candidate | None:
    """The first candidate (they come highest priority first) with a matching trigger."""
    for candidate in candidates:
        if any(matches(t, inbound) for t in candidate.triggers):
            return candidate
    return None
