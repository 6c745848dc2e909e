"""The per-mailbox back-off map on its own."""

from __future__ import annotations

import pytest

from crm_ews._transport._backoff import MailboxBackOff
from tests.transport._support import FakeClock


def test_remaining_counts_down_and_clears() -> None:
    """A recorded back-off shrinks with time and is gone once it passes."""
    clock = FakeClock()
    back_off = MailboxBackOff(clock=clock)

    back_off.record("alice", 10.0)
    clock.now += 4.0
    left = back_off.remaining("alice")
    clock.now += 6.5

    assert left == pytest.approx(6.0)
    assert back_off.remaining("alice") == 0.0
    assert len(back_off) == 0


def test_a_later_deadline_wins() -> None:
    """A shorter back-off does not cut a longer one short."""
    clock = FakeClock()
    back_off = MailboxBackOff(clock=clock)

    back_off.record("alice", 30.0)
    back_off.record("alice", 5.0)

    assert back_off.remaining("alice") == pytest.approx(30.0)


def test_mailboxes_are_independent() -> None:
    """Bob is free while alice backs off."""
    back_off = MailboxBackOff(clock=FakeClock())

    back_off.record("alice", 30.0)

    assert back_off.remaining("bob") == 0.0


def test_map_is_bounded_expired_first_then_oldest() -> None:
    """Past the bound, expired entries go first, then the oldest live ones."""
    clock = FakeClock()
    back_off = MailboxBackOff(clock=clock, max_entries=3)

    back_off.record("expiring", 1.0)
    back_off.record("old", 100.0)
    back_off.record("middle", 100.0)
    clock.now += 2.0
    back_off.record("new", 100.0)
    back_off.record("newest", 100.0)

    assert len(back_off) == 3
    assert back_off.remaining("expiring") == 0.0
    assert back_off.remaining("old") == 0.0
    assert back_off.remaining("newest") > 0


def test_non_positive_back_off_is_ignored() -> None:
    """Zero or negative waits record nothing."""
    back_off = MailboxBackOff(clock=FakeClock())

    back_off.record("alice", 0.0)
    back_off.record("alice", -5.0)

    assert len(back_off) == 0


def test_bound_must_be_positive() -> None:
    """max_entries below 1 is refused."""
    with pytest.raises(ValueError, match="max_entries"):
        MailboxBackOff(clock=FakeClock(), max_entries=0)
