"""The committed stage diffs (diffs/*.diff) are what the stages' code says today."""

import pytest

from workshop.stagediff import diff, pairs


@pytest.mark.parametrize(
    "old, new, committed", pairs(), ids=lambda value: getattr(value, "name", "")
)
def test_committed_diff_is_current(old, new, committed):
    assert committed.exists(), f"missing {committed}: run `python -m workshop.stagediff --write`"
    assert committed.read_text() == diff(old, new), (
        f"{committed.name} is stale: run `python -m workshop.stagediff --write`"
    )


def test_there_is_a_diff_for_every_pair_of_stages():
    assert len(pairs()) >= 2
