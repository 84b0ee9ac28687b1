"""History seqs (inbox.history): below every live message's, in time order, and a search for a
free one never leaves its second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from inbox.history import history_seq, last_seq_of_second

MOMENT = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


def test_seqs_are_negative_exact_in_javascript_and_in_time_order() -> None:
    earlier = history_seq(MOMENT, 300, "wamid.b")
    later = history_seq(MOMENT + timedelta(seconds=1), 0, "wamid.a")
    assert -(2**53 - 1) <= earlier < later < 0
    assert history_seq(MOMENT, 1, "wamid.a") < history_seq(MOMENT, 2, "wamid.a")


def test_the_free_seq_search_stays_within_its_second() -> None:
    next_second = history_seq(MOMENT + timedelta(seconds=1), 0, "wamid.x")
    for index, wamid in ((0, "wamid.x"), (7, "wamid.y"), (400, "wamid.z")):
        seq = history_seq(MOMENT, index, wamid)
        assert seq <= last_seq_of_second(seq) < next_second
        assert last_seq_of_second(seq) == last_seq_of_second(history_seq(MOMENT, 0, "w"))
    # Every seq of the next second, the smallest tie included, lies beyond it.
    smallest_next = min(
        history_seq(MOMENT + timedelta(seconds=1), 0, f"wamid.{n}") for n in range(2000)
    )
    assert last_seq_of_second(history_seq(MOMENT, 0, "w")) < smallest_next
