"""The node types of a flow document: one pydantic model per type (unknown fields refused).

A flow is `{"start": node_id, "variables": [...], "nodes": [...], "edges": [...]}`. Edges go from
a node's named output (`handle`) to another node; the handles a node type offers are listed by
`handles()`. Texts may use `{{variable}}` templates (flow_validation checks the names).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

NodeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
VariableName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Tag = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f]{1,64}$")]
MAX_BUTTONS = 3
MAX_LIST_ROWS = 10
NEXT = "next"


class NodeBase(BaseModel):
    """Fields every node has."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: NodeId
    label: Annotated[str, StringConstraints(max_length=200)] | None = None

    def handles(self) -> tuple[str, ...]:
        """The named outputs edges may leave from."""
        return (NEXT,)

    def texts(self) -> tuple[str, ...]:
        """Every template string of the node (for the variable check)."""
        return ()

    def sets(self) -> tuple[str, ...]:
        """Variables this node assigns."""
        return ()


class SendText(NodeBase):
    """Send a text message."""

    type: Literal["send_text"]
    text: Text

    def texts(self) -> tuple[str, ...]:
        return (self.text,)


class SendMedia(NodeBase):
    """Send an image, video, audio or document by https link or Meta media id."""

    type: Literal["send_media"]
    media_type: Literal["image", "video", "audio", "document"]
    link: Annotated[str, StringConstraints(pattern=r"^https://\S+$", max_length=2048)] | None = None
    media_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,128}$")] | None = None
    caption: ShortText | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SendMedia:
        if (self.link is None) == (self.media_id is None):
            raise ValueError("give exactly one of link or media_id")
        return self

    def texts(self) -> tuple[str, ...]:
        return (self.caption,) if self.caption else ()


class Button(BaseModel):
    """A reply button: its id is the handle an edge leaves from when it is tapped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: NodeId
    title: Annotated[str, StringConstraints(min_length=1, max_length=20)]


class SendButtons(NodeBase):
    """Send up to 3 reply buttons and wait for a tap (other text: the `next` handle)."""

    type: Literal["send_buttons"]
    text: ShortText
    buttons: list[Button] = Field(min_length=1)
    variable: VariableName | None = None

    def handles(self) -> tuple[str, ...]:
        return (NEXT, *(b.id for b in self.buttons))

    def texts(self) -> tuple[str, ...]:
        return (self.text,)

    def sets(self) -> tuple[str, ...]:
        return (self.variable,) if self.variable else ()


class ListRow(BaseModel):
    """One row of a list message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: NodeId
    title: Annotated[str, StringConstraints(min_length=1, max_length=24)]
    description: Annotated[str, StringConstraints(max_length=72)] | None = None


class ListSection(BaseModel):
    """A titled section of rows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[str, StringConstraints(min_length=1, max_length=24)]
    rows: list[ListRow] = Field(min_length=1)


class SendList(NodeBase):
    """Send a list (up to 10 rows in all) and wait for a choice."""

    type: Literal["send_list"]
    text: ShortText
    button: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    sections: list[ListSection] = Field(min_length=1, max_length=10)
    variable: VariableName | None = None

    def rows(self) -> list[ListRow]:
        """Every row of every section."""
        return [row for section in self.sections for row in section.rows]

    def handles(self) -> tuple[str, ...]:
        return (NEXT, *(r.id for r in self.rows()))

    def texts(self) -> tuple[str, ...]:
        return (self.text,)

    def sets(self) -> tuple[str, ...]:
        return (self.variable,) if self.variable else ()


class Validation(BaseModel):
    """How an answer is checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["text", "number", "email", "phone", "date", "choice"] = "text"
    choices: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] | None = None
    pattern: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None


class AskQuestion(NodeBase):
    """Ask, check the answer, store it; re-prompt up to max_attempts; a timeout edge."""

    type: Literal["ask_question"]
    text: Text
    variable: VariableName
    validation: Validation = Validation()
    reprompt_text: Text | None = None
    max_attempts: int = Field(default=3, ge=1, le=10)
    timeout_seconds: int | None = Field(default=None, ge=10, le=7 * 24 * 3600)

    def handles(self) -> tuple[str, ...]:
        return (NEXT, "invalid", "timeout")

    def texts(self) -> tuple[str, ...]:
        return (self.text, self.reprompt_text) if self.reprompt_text else (self.text,)

    def sets(self) -> tuple[str, ...]:
        return (self.variable,)


class Rule(BaseModel):
    """`left` is `var.<name>` or `contact.<field>`; `value` is a template."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    left: Annotated[str, StringConstraints(pattern=r"^(var|contact)\.[a-z][a-z0-9_.]{0,80}$")]
    op: Literal["eq", "ne", "contains", "gt", "lt", "exists", "not_exists", "regex"]
    value: Annotated[str, StringConstraints(max_length=500)] = ""


class Condition(NodeBase):
    """Branch on rules joined by and/or: handles `true` and `false`."""

    type: Literal["condition"]
    mode: Literal["and", "or"] = "and"
    rules: list[Rule] = Field(min_length=1, max_length=20)

    def handles(self) -> tuple[str, ...]:
        return ("true", "false")

    def texts(self) -> tuple[str, ...]:
        return tuple(r.value for r in self.rules if r.op != "regex")


class SetVariable(NodeBase):
    """Assign a template's value to a variable."""

    type: Literal["set_variable"]
    variable: VariableName
    value: Annotated[str, StringConstraints(max_length=4096)]

    def texts(self) -> tuple[str, ...]:
        return (self.value,)

    def sets(self) -> tuple[str, ...]:
        return (self.variable,)


class HttpRequest(NodeBase):
    """Call an outside HTTP(S) API (SSRF-guarded); map JSON pointers into variables."""

    type: Literal["http_request"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    headers: dict[str, Annotated[str, StringConstraints(max_length=2048)]] = Field(
        default_factory=dict, max_length=20
    )
    body: Annotated[str, StringConstraints(max_length=16_384)] | None = None
    timeout_ms: int = Field(default=5000, ge=100, le=10_000)
    response_mapping: dict[VariableName, Annotated[str, StringConstraints(max_length=500)]] = Field(
        default_factory=dict, max_length=20
    )

    def handles(self) -> tuple[str, ...]:
        return (NEXT, "error")

    def texts(self) -> tuple[str, ...]:
        return (self.url, *self.headers.values(), *((self.body,) if self.body else ()))

    def sets(self) -> tuple[str, ...]:
        return tuple(self.response_mapping)


class AiAnswer(NodeBase):
    """Answer the customer's last message with the AI answerer; no answer hands off."""

    type: Literal["ai_answer"]
    question: Annotated[str, StringConstraints(min_length=1, max_length=4096)] = "{{last_input}}"
    variable: VariableName | None = None

    def texts(self) -> tuple[str, ...]:
        return (self.question,)

    def sets(self) -> tuple[str, ...]:
        return (self.variable,) if self.variable else ()


class AiLeadCapture(NodeBase):
    """Capture a lead from the conversation with the AI lead capturer."""

    type: Literal["ai_lead_capture"]


class TagContact(NodeBase):
    """Add tags to the contact."""

    type: Literal["tag_contact"]
    tags: list[Tag] = Field(min_length=1, max_length=20)


class UpdateContact(NodeBase):
    """Set the contact's name, email or custom attributes (templates)."""

    type: Literal["update_contact"]
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    attributes: dict[VariableName, Annotated[str, StringConstraints(max_length=1000)]] = Field(
        default_factory=dict, max_length=40
    )

    def texts(self) -> tuple[str, ...]:
        given = (self.name, self.email, *self.attributes.values())
        return tuple(t for t in given if t)


TEAM_ID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class Handoff(NodeBase):
    """Hand the conversation to a person: a user, the number's assignment policy, or anyone;
    optionally to a team (then "policy" picks one of the team's online members).

    team_id is checked for its form only: a team may be deleted after the flow is published,
    so the run checks it exists (and hands to the unassigned queue, logged, if not).
    """

    type: Literal["handoff"]
    assign: Literal["none", "policy", "user"] = "none"
    user_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F-]{36}$")] | None = None
    team_id: Annotated[str, StringConstraints(pattern=TEAM_ID)] | None = None

    def handles(self) -> tuple[str, ...]:
        return ()

    @model_validator(mode="after")
    def _user(self) -> Handoff:
        if (self.assign == "user") != (self.user_id is not None):
            raise ValueError("user_id is given exactly when assign is 'user'")
        return self


class Wait(NodeBase):
    """Pause the run (a durable timer), then continue."""

    type: Literal["wait"]
    seconds: int = Field(ge=1, le=30 * 24 * 3600)


class Jump(NodeBase):
    """Continue at another node (no edge)."""

    type: Literal["jump"]
    target: NodeId

    def handles(self) -> tuple[str, ...]:
        return ()


class Branch(BaseModel):
    """One arm of an A/B split."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: NodeId
    weight: int = Field(ge=0, le=10_000)


class Split(NodeBase):
    """Pick a branch at random by weight (handles: the branch names)."""

    type: Literal["split"]
    branches: list[Branch] = Field(min_length=2, max_length=10)

    def handles(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.branches)


class End(NodeBase):
    """End the run."""

    type: Literal["end"]

    def handles(self) -> tuple[str, ...]:
        return ()


Node = (
    SendText | SendMedia | SendButtons | SendList | AskQuestion | Condition | SetVariable
    | HttpRequest | AiAnswer | AiLeadCapture | TagContact | UpdateContact | Handoff | Wait | Jump
    | Split | End
)  # fmt: skip
NODE_TYPES: dict[str, type[NodeBase]] = {
    model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (
        SendText, SendMedia, SendButtons, SendList, AskQuestion, Condition, SetVariable,
        HttpRequest, AiAnswer, AiLeadCapture, TagContact, UpdateContact, Handoff, Wait, Jump,
        Split, End,
    )
}  # fmt: skip
