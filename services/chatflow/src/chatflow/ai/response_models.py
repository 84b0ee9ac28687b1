"""The AI settings, companion and knowledge-base APIs' answers, as documented in the OpenAPI
document (``majlis.http.responds``): they describe the dicts of ``settings_views._public``,
``companion_views._public`` (and ``companion.CodeDelivery.public``), ``knowledge_views``'
``_entry_json`` and ``_document_json`` and ``try_views.try_question``; keep them in step."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import SkipJsonSchema

from majlis.ai.text import Language

Provider = Literal["builtin", "openai", "gemini"]


class AiSettingsOut(BaseModel):
    """The tenant's answerer. The provider key is write-only: never answered, only whether
    one is stored and a masked hint of it."""

    provider: Provider
    model: str | None = Field(description="The provider's model (null: its default model)")
    has_key: bool = Field(description="Whether a provider API key is stored")
    key_hint: str | None = Field(
        pattern=r"^(?:.{3}….{4}|…)$",
        examples=["sk-…abcd"],
        description="The stored key masked: its first three and last four characters, or"
        " only '…' for a key shorter than 12 (null: no key)",
    )
    min_confidence: float = Field(
        ge=0, le=1, description="The built-in answerer answers from this confidence up"
    )
    timeout_seconds: float = Field(gt=0, le=60, description="How long a provider call may take")
    updated_at: datetime | None = Field(description="Null: never saved (the defaults)")


# The companion -------------------------------------------------------------------------------
class _CompanionNumber(BaseModel):
    phone_hint: str = Field(
        pattern=r"^.{4}….{4}$",
        examples=["+971…4567"],
        description="The owner's number masked: its first and last four characters",
    )
    number_id: UUID = Field(description="The business number that sends the code")


class CompanionOut(_CompanionNumber):
    """The owner's companion number: waiting for its code, or confirmed."""

    status: Literal["pending", "verified"]
    code_expires_at: datetime | None = Field(
        description="When the code sent expires (null once verified)"
    )


class NoCompanionOut(BaseModel):
    """The owner has no companion number."""

    status: Literal["none"]


class CompanionStateOut(RootModel[CompanionOut | NoCompanionOut]):
    """The caller's companion number, or `{"status": "none"}` without one."""

    root: Annotated[CompanionOut | NoCompanionOut, Field(discriminator="status")]


class TemplateDeliveryOut(BaseModel):
    """The code went with an approved authentication template (delivered at any time)."""

    via: Literal["template"]
    template: str = Field(description="The template's name")
    language: str = Field(description="The template's language code (e.g. en, en_US)")


class TextDeliveryOut(BaseModel):
    """The code went as free text: delivered only if the owner's number wrote to the business
    number in the last 24 hours (`hint` says so, for the owner)."""

    via: Literal["text"]
    hint: str


class CompanionRegisteredOut(_CompanionNumber):
    """A registration: the number waits for the code now on its way."""

    status: Literal["pending"]
    code_expires_at: datetime = Field(description="When the code sent expires")
    code_delivery: Annotated[TemplateDeliveryOut | TextDeliveryOut, Field(discriminator="via")]


class CompanionVerifiedOut(_CompanionNumber):
    """The number, confirmed."""

    status: Literal["verified"]
    code_expires_at: None = Field(description="Always null: no code waits any more")


# The knowledge base ---------------------------------------------------------------------------
class EntryAnswerOut(BaseModel):
    """An FAQ answer by language: one or both of `ar` and `en`, never an empty one."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    ar: str | SkipJsonSchema[None] = Field(default=None, description="Absent: no Arabic answer")
    en: str | SkipJsonSchema[None] = Field(default=None, description="Absent: no English answer")


class KnowledgeEntryOut(BaseModel):
    """An FAQ entry: the questions it answers and its answer."""

    id: UUID
    questions: list[str]
    answer: EntryAnswerOut
    languages: list[Language] = Field(description="The languages it has an answer in, sorted")
    created_at: datetime
    updated_at: datetime


class KnowledgeDocumentOut(BaseModel):
    """A document of the knowledge base, without its text."""

    id: UUID
    title: str
    language: Language
    chunks: int = Field(ge=0, description="How many passages its text is searched as")
    created_at: datetime
    updated_at: datetime


class KnowledgeDocumentDetailOut(KnowledgeDocumentOut):
    """A document of the knowledge base, with its text."""

    text: str


class TriedAnswerOut(BaseModel):
    """The reply the customer would get."""

    text: str
    language: Language
    confidence: float = Field(
        ge=0, le=1, description="The best passage's share of the question's terms"
    )
    source: Provider = Field(description="Who wrote the reply")


class TriedPassageOut(BaseModel):
    """A ranked passage of the knowledge base: one the answer used, or a close candidate."""

    kind: Literal["entry", "document"]
    id: UUID = Field(description="The entry's or the document's id")
    chunk: int = Field(ge=0, description="The passage's place in its document (0: an entry)")
    label: str | None = Field(
        description="The entry's first question or the document's title (null: deleted since)"
    )
    confidence: float = Field(ge=0, le=1, description="The share of the question's terms in it")
    has_language: bool = Field(description="Whether it has text in the question's language")
    used: bool = Field(description="Whether the answer came from it")
    excerpt: str = Field(
        max_length=280, description="The start of its text, in the question's language if any"
    )


class TryOut(BaseModel):
    """What the bot would answer the question (null: it would hand off to a person), from
    which passages; nothing was sent or stored."""

    language: Language = Field(description="The language the reply must be in")
    provider: Provider = Field(description="Who answered, or would have")
    model: str | None = Field(description="The provider's model (null: the built-in answerer)")
    min_confidence: float = Field(ge=0, le=1)
    answered: bool
    answer: TriedAnswerOut | None
    passages: list[TriedPassageOut]
