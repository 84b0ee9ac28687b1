"""How early a send's claim starts committing: long enough that the commit does not delay the
call past its slot, short enough that a crash strands few claimed sends (pacing.ClaimLead)."""

from __future__ import annotations

import pytest

from broadcast.pacing import ClaimLead


def test_before_any_commit_the_lead_is_the_ceiling() -> None:
    assert ClaimLead(ceiling_s=0.02).seconds == pytest.approx(0.02)


def test_the_lead_follows_what_commits_take_not_the_ceiling() -> None:
    lead = ClaimLead(ceiling_s=0.02, memory=64)
    for _ in range(64):
        lead.observe(0.002)
    assert lead.seconds == pytest.approx(0.002)


def test_a_rare_slow_commit_does_not_set_the_lead_but_a_slow_tenth_does() -> None:
    lead = ClaimLead(ceiling_s=0.05, quantile=0.9, memory=100)
    for _ in range(98):
        lead.observe(0.002)
    lead.observe(0.04)
    lead.observe(0.04)
    assert lead.seconds == pytest.approx(0.002)
    for _ in range(10):  # the machine got busy: a tenth of the commits take 15 ms
        lead.observe(0.015)
    assert lead.seconds == pytest.approx(0.015)


def test_old_commits_are_forgotten_when_the_load_passes() -> None:
    lead = ClaimLead(ceiling_s=0.05, memory=32)
    for _ in range(32):
        lead.observe(0.03)
    assert lead.seconds == pytest.approx(0.03)
    for _ in range(32):
        lead.observe(0.003)
    assert lead.seconds == pytest.approx(0.003)


def test_the_lead_stays_within_its_bounds() -> None:
    lead = ClaimLead(floor_s=0.001, ceiling_s=0.02)
    lead.observe(0.5)
    assert lead.seconds == pytest.approx(0.02)
    for _ in range(100):
        lead.observe(0.0)
    assert lead.seconds == pytest.approx(0.001)


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="floor_s"):
        ClaimLead(floor_s=0.03, ceiling_s=0.02)
    with pytest.raises(ValueError, match="quantile"):
        ClaimLead(quantile=0.0)
