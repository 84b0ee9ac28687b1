"""Use cases that change a conversation: status, read, bot/human ownership, assignment (to a
person and/or a team), labels.

Each runs in the caller's transaction (row locked first), checks the caller's rights, writes,
and queues a `ConversationUpdated` event and (for team actions) an audit entry in the same
transaction. Another tenant's id is not found (404), exactly like an unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from aiohttp import web

from inbox import assignment
from inbox import conversations_repository as repo
from inbox import labels as labels_repo
from inbox import teams as teams_repo
from inbox.conversations_repository import ConversationState
from inbox.repository import Conn
from inbox.web import MANAGER_ROLES, audit, emit
from majlis.events.inbox import ConversationUpdated
from majlis.http import ProblemError
from majlis.http.auth import Identity
from majlis.presence import Presence


def updated_event(
    state: ConversationState,
    change: str,
    *,
    identity: Identity | None,
    previous_assigned_user_id: UUID | None = None,
    previous_team_id: UUID | None = None,
) -> ConversationUpdated:
    """The event describing a conversation after a change (ids only)."""
    if identity is None:
        actor_type, actor_id = "system", None
    else:
        actor_type = "api_key" if identity.kind == "api_key" else "user"
        actor_id = identity.principal_id
    return ConversationUpdated.model_validate(
        {
            "conversation_id": state.id,
            "contact_id": state.contact_id,
            "number_id": state.number_id,
            "change": change,
            "status": state.status,
            "assigned_user_id": state.assigned_user_id,
            "previous_assigned_user_id": previous_assigned_user_id,
            "controller": state.controller,
            "actor_type": actor_type,
            "actor_id": actor_id,
            "team_id": state.team_id,
            "previous_team_id": previous_team_id,
        }
    )


def not_found() -> ProblemError:
    """The one answer for an unknown id and another tenant's id."""
    return ProblemError(404, "Conversation not found")


def assigned_elsewhere(assignee: UUID) -> ProblemError:
    """409: someone else holds the conversation."""
    return ProblemError(
        409,
        "The conversation is assigned to someone else",
        slug="assigned-to-someone-else",
        assigned_user_id=str(assignee),
    )


async def locked(conn: Conn, conversation_id: UUID) -> ConversationState:
    """The conversation's state with its row locked; 404 if not visible."""
    state = await repo.state_for_update(conn, conversation_id)
    if state is None:
        raise not_found()
    return state


async def change_status(
    conn: Conn,
    request: web.Request,
    identity: Identity,
    conversation_id: UUID,
    status: str,
    snoozed_until: datetime | None,
) -> ConversationState:
    """Open, park (pending), snooze (until a time or the next message) or resolve."""
    before = await locked(conn, conversation_id)
    if before.status == status and before.snoozed_until == snoozed_until:
        return before
    after = await repo.set_status(conn, conversation_id, status, snoozed_until)
    await emit(conn, identity.tenant_id, updated_event(after, "status", identity=identity))
    await audit(
        conn,
        request,
        "conversation.status_changed",
        target_type="conversation",
        target_id=conversation_id,
        details={
            "from": before.status,
            "to": after.status,
            "snoozed_until": snoozed_until.isoformat() if snoozed_until else None,
        },
        changes=["status"],
    )
    return after


async def mark_read(conn: Conn, identity: Identity, conversation_id: UUID) -> ConversationState:
    """The caller read the conversation: nothing unread for the team."""
    state = await repo.mark_read(conn, conversation_id)
    if state is None:
        raise not_found()
    await emit(conn, identity.tenant_id, updated_event(state, "read", identity=identity))
    return state


def _person(identity: Identity) -> UUID:
    if identity.kind == "api_key":
        raise ProblemError(
            403, "Only a signed-in person can take a conversation", slug="person-required"
        )
    return identity.principal_id


async def _owner_changed(
    conn: Conn,
    request: web.Request,
    identity: Identity,
    before: ConversationState,
    after: ConversationState,
    action: str,
) -> None:
    await emit(
        conn,
        identity.tenant_id,
        updated_event(
            after,
            "controller",
            identity=identity,
            previous_assigned_user_id=before.assigned_user_id,
        ),
    )
    await audit(
        conn,
        request,
        action,
        target_type="conversation",
        target_id=before.id,
        details={
            "previous_assigned_user_id": (
                str(before.assigned_user_id) if before.assigned_user_id else None
            ),
            "previous_controller": before.controller,
        },
        changes=["controller", "assigned_user_id"],
    )


async def take_over(
    conn: Conn, request: web.Request, identity: Identity, conversation_id: UUID, *, force: bool
) -> ConversationState:
    """A person takes the conversation from the bot (or, forced by a manager, from a colleague)."""
    me = _person(identity)
    before = await locked(conn, conversation_id)
    holder = before.assigned_user_id
    if holder is not None and holder != me and not (force and identity.role in MANAGER_ROLES):
        raise assigned_elsewhere(holder)
    if before.controller == "human" and holder == me:
        return before
    after = await repo.set_owner(conn, conversation_id, controller="human", assigned_user_id=me)
    await _owner_changed(conn, request, identity, before, after, "conversation.taken_over")
    return after


async def hand_back(
    conn: Conn, request: web.Request, identity: Identity, conversation_id: UUID
) -> ConversationState:
    """Give the conversation back to the bot; only its assignee or a manager may."""
    before = await locked(conn, conversation_id)
    is_holder = identity.kind == "session" and before.assigned_user_id == identity.principal_id
    if not is_holder and identity.role not in MANAGER_ROLES:
        raise ProblemError(
            403, "Only the assignee or an owner or admin can hand back", slug="not-the-assignee"
        )
    if before.controller == "bot" and before.assigned_user_id is None:
        return before
    after = await repo.set_owner(conn, conversation_id, controller="bot", assigned_user_id=None)
    await _owner_changed(conn, request, identity, before, after, "conversation.handed_back")
    return after


def _check_agent_assignment(
    identity: Identity, before: ConversationState, user_id: UUID | None
) -> None:
    me = identity.principal_id if identity.kind == "session" else None
    holder = before.assigned_user_id
    if user_id is not None and user_id == me:
        if holder is not None and holder != me:
            raise assigned_elsewhere(holder)
        return
    if user_id is None and holder in (None, me):
        return
    raise ProblemError(
        403,
        "Agents may only assign unassigned conversations to themselves, or unassign themselves",
        slug="forbidden-assignment",
    )


def _check_agent_team_change(identity: Identity, before: ConversationState) -> None:
    """An agent may pass on (to a team) only a conversation that is theirs or nobody's."""
    me = identity.principal_id if identity.kind == "session" else None
    if before.assigned_user_id in (None, me):
        return
    raise ProblemError(
        403,
        "Agents may only change the team of conversations that are unassigned or theirs",
        slug="forbidden-assignment",
    )


@dataclass(frozen=True, slots=True)
class AssignmentChange:
    """What `POST .../assign` asks for; a field not given keeps the conversation's value.

    auto: pick a member of the (new) team by the number's policy among its online members.
    """

    user_given: bool = False
    user_id: UUID | None = None
    team_given: bool = False
    team_id: UUID | None = None
    auto: bool = False


def _unknown_team() -> ProblemError:
    return ProblemError(
        422, "Unknown team", slug="unknown-team", detail="Assign one of this tenant's teams."
    )


async def assign(
    conn: Conn,
    request: web.Request,
    identity: Identity,
    conversation_id: UUID,
    change: AssignmentChange,
    presence: Presence | None = None,
) -> ConversationState:
    """Assign to a person and/or a team (or unassign); a person answers from then on."""
    before = await locked(conn, conversation_id)
    if identity.role not in MANAGER_ROLES:
        if change.user_given:
            _check_agent_assignment(identity, before, change.user_id)
        if change.team_given or change.auto:
            _check_agent_team_change(identity, before)
    if (
        change.team_given
        and change.team_id is not None
        and not await teams_repo.team_exists(conn, change.team_id)
    ):
        raise _unknown_team()
    user_id = change.user_id if change.user_given else before.assigned_user_id
    team_id = change.team_id if change.team_given else before.team_id
    if (
        change.user_given
        and user_id is not None
        and not await repo.is_assignable_user(conn, user_id)
    ):
        raise ProblemError(
            422,
            "That user cannot be assigned conversations",
            slug="user-not-assignable",
            detail="Assign an active owner, admin or agent of this team.",
        )
    if change.auto:
        if team_id is None:
            raise ProblemError(
                422, "auto_assign needs a team", slug="auto-assign-needs-team",
                detail="Give team_id (or assign a conversation that has a team).",
            )  # fmt: skip
        user_id = await assignment.pick_team_member(
            conn, identity.tenant_id, before.number_id, team_id, presence
        )
    controller = "human" if user_id is not None else before.controller
    if (before.assigned_user_id, before.team_id, before.controller) == (
        user_id, team_id, controller,
    ):  # fmt: skip
        return before
    after = await repo.set_assignment(
        conn, conversation_id, controller=controller, assigned_user_id=user_id, team_id=team_id
    )
    if change.auto and user_id is not None and user_id != before.assigned_user_id:
        await repo.note_assigned(conn, identity.tenant_id, user_id)
    await emit(
        conn,
        identity.tenant_id,
        updated_event(
            after,
            "assignment",
            identity=identity,
            previous_assigned_user_id=before.assigned_user_id,
            previous_team_id=before.team_id,
        ),
    )
    await audit(
        conn,
        request,
        _assignment_action(before, after),
        target_type="conversation",
        target_id=conversation_id,
        details={
            "assigned_user_id": _text(after.assigned_user_id),
            "previous_assigned_user_id": _text(before.assigned_user_id),
            "team_id": _text(after.team_id),
            "previous_team_id": _text(before.team_id),
            "auto_assigned": change.auto,
        },
        changes=[
            name
            for name, moved in (
                ("assigned_user_id", before.assigned_user_id != after.assigned_user_id),
                ("team_id", before.team_id != after.team_id),
                ("controller", before.controller != after.controller),
            )
            if moved
        ],
    )
    return after


def _text(value: UUID | None) -> str | None:
    return str(value) if value is not None else None


def _assignment_action(before: ConversationState, after: ConversationState) -> str:
    """conversation.assigned / .unassigned for a person; .team_assigned / .team_unassigned."""
    if before.assigned_user_id != after.assigned_user_id or before.team_id == after.team_id:
        return "conversation.assigned" if after.assigned_user_id else "conversation.unassigned"
    return "conversation.team_assigned" if after.team_id else "conversation.team_unassigned"


async def set_labels(
    conn: Conn,
    request: web.Request,
    identity: Identity,
    conversation_id: UUID,
    label_ids: list[UUID],
) -> ConversationState:
    """Make the conversation's labels exactly `label_ids`; all must be labels of the tenant."""
    before = await locked(conn, conversation_id)
    wanted = list(dict.fromkeys(label_ids))
    if await labels_repo.existing_label_ids(conn, wanted) != set(wanted):
        raise ProblemError(422, "Unknown label", slug="unknown-label")
    current = await repo.label_ids_of(conn, conversation_id)
    if current == set(wanted):
        return before
    await repo.replace_labels(conn, identity.tenant_id, conversation_id, wanted)
    await emit(conn, identity.tenant_id, updated_event(before, "labels", identity=identity))
    await audit(
        conn,
        request,
        "conversation.labels_changed",
        target_type="conversation",
        target_id=conversation_id,
        details={
            "added": sorted(str(i) for i in set(wanted) - current),
            "removed": sorted(str(i) for i in current - set(wanted)),
        },
        changes=["labels"],
    )
    return before
