"""Interactive messages (reply buttons and lists), held to Meta's limits.

Buttons: at most 3, id <= 256, title <= 20 and unique, body <= 1024, footer <= 60.
Lists: button text <= 20, at most 10 sections and 10 rows in all, section and row titles
<= 24, row description <= 72, row id <= 200 and unique, body <= 4096, text header <= 60.
(/work/shared/reference/meta-cloud-api.md section 4.)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from inbox.outbound_payloads import DocumentMedia, MediaRef, ReplyBase
from majlis.http import RequestModel

Text20 = Annotated[str, StringConstraints(min_length=1, max_length=20)]
Text24 = Annotated[str, StringConstraints(min_length=1, max_length=24)]
Text60 = Annotated[str, StringConstraints(min_length=1, max_length=60)]
Text72 = Annotated[str, StringConstraints(min_length=1, max_length=72)]
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text256 = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Text1024 = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Text4096 = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class TextHeader(RequestModel):
    """A text header."""

    type: Literal["text"]
    text: Text60


class ImageHeader(RequestModel):
    """An image header (reply buttons only)."""

    type: Literal["image"]
    image: MediaRef


class VideoHeader(RequestModel):
    """A video header (reply buttons only)."""

    type: Literal["video"]
    video: MediaRef


class DocumentHeader(RequestModel):
    """A document header (reply buttons only)."""

    type: Literal["document"]
    document: DocumentMedia


Header = Annotated[
    TextHeader | ImageHeader | VideoHeader | DocumentHeader, Field(discriminator="type")
]


class ButtonBody(RequestModel):
    """The text of a reply-buttons message."""

    text: Text1024


class ListBody(RequestModel):
    """The text of a list message."""

    text: Text4096


class Footer(RequestModel):
    """The footer."""

    text: Text60


class Reply(RequestModel):
    """One button's id (sent back when tapped) and title."""

    id: Text256
    title: Text20


class Button(RequestModel):
    """One reply button."""

    type: Literal["reply"] = "reply"
    reply: Reply


class ButtonAction(RequestModel):
    """One to three reply buttons with distinct ids and titles."""

    buttons: Annotated[list[Button], Field(min_length=1, max_length=3)]

    @model_validator(mode="after")
    def _distinct(self) -> ButtonAction:
        replies = [b.reply for b in self.buttons]
        if len({r.id for r in replies}) < len(replies):
            raise ValueError("button ids must be unique")
        if len({r.title for r in replies}) < len(replies):
            raise ValueError("button titles must be unique")
        return self


class Row(RequestModel):
    """One list row."""

    id: Text200
    title: Text24
    description: Text72 | None = None


class Section(RequestModel):
    """A section of list rows."""

    title: Text24 | None = None
    rows: Annotated[list[Row], Field(min_length=1, max_length=10)]


class ListAction(RequestModel):
    """The list's button text and sections: at most 10 rows in all, distinct row ids."""

    button: Text20
    sections: Annotated[list[Section], Field(min_length=1, max_length=10)]

    @model_validator(mode="after")
    def _limits(self) -> ListAction:
        rows = [row for section in self.sections for row in section.rows]
        if len(rows) > 10:
            raise ValueError("a list has at most 10 rows in all")
        if len({row.id for row in rows}) < len(rows):
            raise ValueError("row ids must be unique")
        if len(self.sections) > 1 and any(s.title is None for s in self.sections):
            raise ValueError("every section needs a title when there are several")
        return self


class ButtonMessage(RequestModel):
    """Reply buttons."""

    type: Literal["button"]
    header: Header | None = None
    body: ButtonBody
    footer: Footer | None = None
    action: ButtonAction


class ListMessage(RequestModel):
    """A list of options."""

    type: Literal["list"]
    header: TextHeader | None = None
    body: ListBody
    footer: Footer | None = None
    action: ListAction


class InteractiveReply(ReplyBase):
    """An interactive message: reply buttons or a list."""

    type: Literal["interactive"]
    interactive: Annotated[ButtonMessage | ListMessage, Field(discriminator="type")]

    def cloud_message(self) -> dict[str, Any]:
        """The Cloud API message object."""
        return {
            "type": "interactive",
            "interactive": self.interactive.model_dump(mode="json", exclude_none=True),
        }
