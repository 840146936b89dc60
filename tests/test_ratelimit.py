"""The token bucket behind --rate: arithmetic over given times, no clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.edge.ratelimit import TokenBucket


def test_tokens_are_spaced_by_the_interval():
    bucket = TokenBucket(rate=10)
    assert [round(bucket.reserve(0.0), 6) for _ in range(4)] == [0.0, 0.1, 0.2, 0.3]


def test_a_pause_does_not_bank_more_than_the_burst():
    bucket = TokenBucket(rate=10, burst=3)
    assert bucket.reserve(0.0) == 0.0
    waits = [round(bucket.reserve(100.0), 6) for _ in range(5)]  # long idle, then a rush
    assert waits == [0.0, 0.0, 0.0, 0.1, 0.2]


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (5, 0)])
def test_bad_parameters(rate, burst):
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate, burst)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.5, 5000),
    st.integers(1, 8),
    st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=60),
)
def test_no_window_holds_more_than_rate_times_length_plus_burst(rate, burst, gaps):
    bucket = TokenBucket(rate, burst)
    now, starts = 0.0, []
    for gap in gaps:
        now += gap / rate  # callers arrive at arbitrary times
        starts.append(now + bucket.reserve(now))
    starts.sort()
    for i, first in enumerate(starts):
        for j in range(i, len(starts)):
            length = starts[j] - first
            assert j - i + 1 <= rate * length + burst + 1e-6
