"""Stage 5 in steps (workshop/steps.py): applying every step to stage 4 gives stage05_scaling/
exactly, no step is over 600 lines without saying why, and each step runs its own tests."""

import os

import pytest

from workshop import steps


def test_every_step_applies_and_the_last_one_is_stage_5():
    assert steps.problems() == []


def test_a_stale_step_is_reported(monkeypatch):
    """A change to stage 5 that no step carries is found, and the message says what to do."""
    original = steps.project_files
    files = original(steps.REPO_ROOT, steps.FINAL)

    def with_a_change(root, project):
        if root == steps.REPO_ROOT and project == steps.FINAL:
            changed = dict(files)
            name = f"{steps.FINAL}/taskqueue/claim.py"
            changed[name] = (changed[name][0] + b"# a fix made here only\n", False)
            return changed
        return original(root, project)

    monkeypatch.setattr(steps, "project_files", with_a_change)
    found = steps.problems()

    assert (
        found[0]
        == f"{steps.FINAL}/taskqueue/claim.py: differs between the last step and {steps.FINAL}"
    )
    assert "python -m workshop.steps edit" in found[-1]


def test_a_step_is_measured_by_its_code_and_not_its_tests():
    code = "diff --git a/stage05_scaling/x.py b/stage05_scaling/x.py\n+++ b/x\n" + "+a\n" * 3
    tests = "diff --git a/tests/stage05_scaling/t.py b/tests/stage05_scaling/t.py\n" + "+b\n" * 5
    assert steps.changed_lines("Step 9: two lines\n-not counted\n\n" + code + tests) == 3


# Each step's idea is tested in that step: the test functions it adds or edits, or a whole file
# when the step adds it or edits its fixtures (steps.test_ids). The last step is stage05_scaling/
# itself, whose whole suite runs anyway; step 1, the core, runs the tests of its claim, its
# enqueue and its leases (`make steps-test` runs every step's whole suite). The soak runs (a
# short chaos, the load test: `@pytest.mark.soak`) run with the last step only, to keep CI short,
# unless they are all the tests a step has.
CORE = ["test_claim.py", "test_enqueue_many.py", "test_crash_recovery.py"]
NO_TESTS_RAN = 5  # pytest's exit code when every test it collected was deselected


@pytest.mark.parametrize("number", range(1, len(steps.patches())))
def test_each_step_runs_and_passes_the_tests_of_its_idea(number):
    if os.environ.get("DATABASE_URL"):
        pytest.skip("the steps run on the embedded PostgreSQL only (keeps .ci/run short)")
    tests = CORE if number == 1 else steps.test_ids(number)
    assert tests, f"step {number} adds no test"

    code = steps.run_tests(number, *tests, pytest_args=["-m", "not soak"])
    if code == NO_TESTS_RAN:  # the step's own tests are all soak runs (step 15: the lab's)
        code = steps.run_tests(number, *tests)
    assert code == 0


# A diff of a test file as a step's patch holds it (a context line's blank is one space).
EDITS = "\n".join([
    "diff --git a/tests/stage05_scaling/test_x.py b/tests/stage05_scaling/test_x.py",
    "--- a/tests/stage05_scaling/test_x.py",
    "+++ b/tests/stage05_scaling/test_x.py",
    "@@ -1,3 +1,4 @@",
    " import os",
    "+import re",
    " ",
    "@@ -10,6 +11,7 @@ def test_edited(manage):",
    "     first = 1",
    "+    second = 2",
    " ",
    " ",
    " def test_untouched():",
    "@@ -20,4 +22,9 @@ def test_untouched():",
    "     pass",
    "+",
    "+",
    '+@pytest.mark.parametrize("n", [1])',
    "+def test_added(n):",
    "+    assert n",
])  # fmt: skip


def test_a_step_s_own_tests_are_the_functions_it_adds_or_edits():
    assert steps.changed_functions(EDITS) == {"test_edited", "test_added"}


def test_a_test_whose_name_git_cut_short_makes_the_whole_file_the_step_s():
    """git writes at most 80 characters of the enclosing function in a hunk's header."""
    name = "def test_a_worker_started_without_a_database_waits_with_backoff_instead_of_crashing"
    section = EDITS.replace(
        "@@ -10,6 +11,7 @@ def test_edited(manage):", f"@@ -10,6 +11,7 @@ {name[:80]}"
    )
    assert steps.changed_functions(section) is None


def test_a_step_that_edits_a_helper_owns_the_whole_file():
    helper = EDITS.replace("@@ def test_edited(manage):", "@@ def run(x):")
    assert steps.changed_functions(helper) is None
