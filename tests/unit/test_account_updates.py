"""Reading Meta's account_update values: the ban state of a DISABLED_UPDATE and the holds of
an ACCOUNT_RESTRICTION (which sends wait, until when), whatever shape the fields come in."""

from __future__ import annotations

from typing import Any

import pytest

from broadcast.campaign_events import ban_state, restriction_holds

pytestmark = pytest.mark.unit

BIZ, CUSTOMER = "RESTRICTED_BIZ_INITIATED_MESSAGING", "RESTRICTED_CUSTOMER_INITIATED_MESSAGING"


def restriction(*entries: Any) -> dict[str, Any]:
    return {"event": "ACCOUNT_RESTRICTION", "restriction_info": list(entries)}


@pytest.mark.parametrize(
    ("ban_info", "expected"),
    [
        ({"waba_ban_state": "DISABLE", "waba_ban_date": "2026-12-07"}, "DISABLE"),
        ({"waba_ban_state": "REINSTATE"}, "REINSTATE"),
        ({"waba_ban_state": ["SCHEDULE_FOR_DISABLE", "DISABLE"]}, "DISABLE"),
        ({"waba_ban_state": "SCHEDULE_FOR_DISABLE"}, "SCHEDULE_FOR_DISABLE"),
        ({"waba_ban_state": "disable"}, None),
        ({"waba_ban_state": {"DISABLE": True}}, None),
        ({"waba_ban_state": [[]]}, None),
        ("DISABLE", None),
        (None, None),
    ],
)
def test_ban_state_is_read_only_from_metas_names(ban_info: Any, expected: str | None) -> None:
    assert ban_state({"event": "DISABLED_UPDATE", "ban_info": ban_info}) == expected


def test_each_kind_is_held_until_its_latest_expiration_in_utc() -> None:
    holds = restriction_holds(
        restriction(
            {"restriction_type": BIZ, "expiration": 1767225600},  # 2026-01-01T00:00:00Z
            {"restriction_type": BIZ, "expiration": "2026-01-02T04:00:00+04:00"},
            {"restriction_type": CUSTOMER, "expiration": "2026-01-03T00:00:00.000Z"},
            {"restriction_type": "RESTRICTED_ADD_PHONE_NUMBER_ACTION", "expiration": 1},
        )
    )
    assert holds == {"bulk": "2026-01-02T00:00:00+00:00", "replies": "2026-01-03T00:00:00+00:00"}


@pytest.mark.parametrize(
    "expiration", [None, "soon", "nan", float("inf"), 10**13, "0001-01-01T00:00:00+01:00", True]
)
def test_an_unreadable_expiration_holds_until_lifted(expiration: Any) -> None:
    entry = {"restriction_type": CUSTOMER, "expiration": expiration}
    later = {"restriction_type": CUSTOMER, "expiration": 1767225600}
    assert restriction_holds(restriction(entry, later)) == {"bulk": None, "replies": "infinity"}


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"restriction_info": "RESTRICTED_BIZ_INITIATED_MESSAGING"},
        restriction("junk", 7, None, {"restriction_type": ["RESTRICTED_BIZ_INITIATED_MESSAGING"]}),
        restriction({"restriction_type": "RESTRICTED_ADD_PHONE_NUMBER_ACTION"}),
    ],
)
def test_no_messaging_restriction_holds_nothing(value: dict[str, Any]) -> None:
    assert restriction_holds(value) == {"bulk": None, "replies": None}
