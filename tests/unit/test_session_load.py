"""session_load.py's failure windows: how the HA drills tell one switchover from several outages."""

from __future__ import annotations

import session_load


def test_failures_close_together_form_one_window() -> None:
    assert session_load.windows([10.0, 10.4, 12.0, 14.9]) == [[10.0, 14.9, 4]]


def test_a_gap_over_the_limit_starts_a_new_window() -> None:
    assert session_load.windows([1.0, 2.0, 9.5, 9.6], gap=3.0) == [[1.0, 2.0, 2], [9.5, 9.6, 2]]


def test_no_failure_no_window() -> None:
    assert session_load.windows([]) == []
