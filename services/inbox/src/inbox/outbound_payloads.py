"""What an agent may send, validated to Meta's limits, and its Cloud API message object.

Each body model's `cloud_message()` is the message object the dispatcher sends (without
`messaging_product`/`to`); the inbox stores the same object, encrypted, as the message body,
in the shape inbound messages are stored in (`{"type": ..., "<type>": {...}}`).
Limits: /work/shared/reference/meta-cloud-api.md section 4 (Meta's send and interactive docs).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from majlis.http import RequestModel

MediaId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
HttpsUrl = Annotated[str, StringConstraints(pattern=r"^https://[^\s/?#]+[^\s]*$", max_length=2048)]
ParamName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")]


def _plain(model: RequestModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


class MediaRef(RequestModel):
    """A media object: uploaded to Meta (`id`) or hosted by the business (`link`, https)."""

    id: MediaId | None = None
    link: HttpsUrl | None = None

    @model_validator(mode="after")
    def _one_source(self) -> MediaRef:
        if (self.id is None) == (self.link is None):
            raise ValueError("give exactly one of id or link")
        return self


class ReplyBase(RequestModel):
    """Fields every reply may carry."""

    # The newest message the agent saw: a reply written on an outdated view is refused.
    last_seen_message_id: UUID | None = None


class TextReply(ReplyBase):
    """A free-form text message."""

    type: Literal["text"]
    text: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    preview_url: bool = False

    def cloud_message(self) -> dict[str, Any]:
        """The Cloud API message object."""
        return {"type": "text", "text": {"body": self.text, "preview_url": self.preview_url}}


class MediaReply(ReplyBase):
    """An image, video, audio, document or sticker, by Meta media id or https link."""

    type: Literal["image", "video", "audio", "document", "sticker"]
    media: MediaRef
    caption: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    filename: Annotated[str, StringConstraints(min_length=1, max_length=240)] | None = None

    @model_validator(mode="after")
    def _fields_of_type(self) -> MediaReply:
        if self.caption is not None and self.type in ("audio", "sticker"):
            raise ValueError(f"a {self.type} message has no caption")
        if self.filename is not None and self.type != "document":
            raise ValueError("only a document has a filename")
        return self

    def cloud_message(self) -> dict[str, Any]:
        """The Cloud API message object."""
        media = _plain(self.media)
        if self.caption is not None:
            media["caption"] = self.caption
        if self.filename is not None:
            media["filename"] = self.filename
        return {"type": self.type, self.type: media}


# Templates ---------------------------------------------------------------------------------
class _Param(RequestModel):
    parameter_name: ParamName | None = None  # named parameters ({{first_name}})


class TextParam(_Param):
    """A text parameter."""

    type: Literal["text"]
    text: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class Currency(RequestModel):
    """An amount: fallback text, ISO 4217 code, amount times 1000."""

    fallback_value: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    amount_1000: int


class CurrencyParam(_Param):
    """A currency parameter."""

    type: Literal["currency"]
    currency: Currency


class DateTime(RequestModel):
    """A date/time, sent as its fallback text."""

    fallback_value: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class DateTimeParam(_Param):
    """A date_time parameter."""

    type: Literal["date_time"]
    date_time: DateTime


class ImageParam(RequestModel):
    """A header image."""

    type: Literal["image"]
    image: MediaRef


class VideoParam(RequestModel):
    """A header video."""

    type: Literal["video"]
    video: MediaRef


class DocumentMedia(MediaRef):
    """A header document, optionally with the file name the customer sees."""

    filename: Annotated[str, StringConstraints(min_length=1, max_length=240)] | None = None


class DocumentParam(RequestModel):
    """A header document."""

    type: Literal["document"]
    document: DocumentMedia


class PayloadParam(RequestModel):
    """The payload of a quick-reply button, echoed back when the customer taps it."""

    type: Literal["payload"]
    payload: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


Param = Annotated[
    TextParam | CurrencyParam | DateTimeParam | ImageParam | VideoParam | DocumentParam
    | PayloadParam,
    Field(discriminator="type"),
]  # fmt: skip
_MEDIA_PARAMS = (ImageParam, VideoParam, DocumentParam)


class TemplateComponent(RequestModel):
    """A component's parameters: header, body, or one button (sub_type and index)."""

    type: Literal["header", "body", "button"]
    sub_type: Literal["quick_reply", "url", "copy_code"] | None = None
    index: Annotated[int, Field(ge=0, le=9)] | None = None
    parameters: Annotated[list[Param], Field(default_factory=list, max_length=100)]

    @model_validator(mode="after")
    def _shape(self) -> TemplateComponent:
        is_button = self.type == "button"
        if is_button != (self.sub_type is not None) or is_button != (self.index is not None):
            raise ValueError("sub_type and index are given for buttons, and only for buttons")
        for param in self.parameters:
            if isinstance(param, _MEDIA_PARAMS) and self.type != "header":
                raise ValueError("media parameters belong to the header")
            if isinstance(param, PayloadParam) and self.sub_type != "quick_reply":
                raise ValueError("payload parameters belong to quick_reply buttons")
        if self.type == "header" and len(self.parameters) > 1:
            raise ValueError("a header takes one parameter")
        return self

    def cloud(self) -> dict[str, Any]:
        """The component as the Cloud API expects it (the button index is a string)."""
        value = _plain(self)
        if self.index is not None:
            value["index"] = str(self.index)
        return value


class Template(RequestModel):
    """A template by name and language, with its parameters."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,512}$")]
    # en, ar, en_US, pt_BR, fil: Meta's language codes.
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")]
    components: Annotated[list[TemplateComponent], Field(default_factory=list, max_length=20)]


class TemplateReply(ReplyBase):
    """A template message: the only kind allowed outside the 24-hour window."""

    type: Literal["template"]
    template: Template

    def cloud_message(self) -> dict[str, Any]:
        """The Cloud API message object."""
        template: dict[str, Any] = {
            "name": self.template.name,
            "language": {"code": self.template.language},
        }
        if self.template.components:
            template["components"] = [c.cloud() for c in self.template.components]
        return {"type": "template", "template": template}
