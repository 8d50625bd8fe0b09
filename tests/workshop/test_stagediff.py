"""The committed stage diffs (diffs/*.diff) are what the stages' code says today, and one that
changes more than 600 lines is explained by the README of the stage it leads to."""

import pytest

from workshop import steps
from workshop.stagediff import changed_lines, diff, pairs


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


@pytest.mark.parametrize(
    "old, new, committed", pairs(), ids=lambda value: getattr(value, "name", "")
)
def test_a_large_stage_diff_says_why_in_its_readme(old, new, committed):
    if new.name == steps.FINAL:
        pytest.skip("stage 5 is read in steps, and test_steps checks each step's size")
    size = changed_lines(committed.read_text())
    assert size <= steps.LIMIT or steps.says_why_it_is_large((new / "README.md").read_text()), (
        f"{committed.name} changes {size} lines, over {steps.LIMIT}: say why in"
        f" {new.name}/README.md, on a line that starts 'Over {steps.LIMIT} lines:'"
    )
