"""`make test`: every stage's tests, each in its own pytest process, then ruff; one summary.

Each stage is its own Django project (its own `config.settings`, its own `taskqueue` app), so
the stages cannot share one pytest process. This runs them one after another and adds up the
results into one closing line: `N passed, N failed`.

Usage: python -m workshop.testrun [SUITE ...] [-- PYTEST-ARGS ...]
       (SUITE is a folder name under tests/, e.g. stage02_db_queue)
"""

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from workshop import REPO_ROOT

TESTS = REPO_ROOT / "tests"
RESULTS = REPO_ROOT / ".test-results"


@dataclass
class Result:
    name: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0


def run_suite(suite: Path, pytest_args: list[str]) -> Result:
    report = RESULTS / f"{suite.name}.xml"
    report.unlink(missing_ok=True)
    started = time.perf_counter()
    code = subprocess.call(
        [
            sys.executable,
            "-m",
            "pytest",
            str(suite.relative_to(REPO_ROOT)),
            "-q",
            f"--junitxml={report}",
            *pytest_args,
        ],
        cwd=REPO_ROOT,
    )
    result = Result(suite.name, seconds=time.perf_counter() - started)
    if report.exists():
        totals = ElementTree.parse(report).getroot()
        totals = totals if totals.tag == "testsuite" else totals.find("testsuite")
        tests, skipped = int(totals.get("tests")), int(totals.get("skipped"))
        failed = int(totals.get("failures")) + int(totals.get("errors"))
        result.passed, result.failed, result.skipped = tests - failed - skipped, failed, skipped
    if code != 0 and result.failed == 0:
        # pytest crashed, was interrupted, or collected nothing (exit 5): the suite failed.
        print(f"{suite.name}: pytest exited with {code} and reported no failure; counting one")
        result.failed = 1
    return result


def run_check(name: str, command: list[str]) -> Result:
    started = time.perf_counter()
    code = subprocess.call(command, cwd=REPO_ROOT)
    return Result(
        name, passed=int(code == 0), failed=int(code != 0), seconds=time.perf_counter() - started
    )


def main(argv: list[str]) -> int:
    names, pytest_args = argv, []
    if "--" in argv:
        split = argv.index("--")
        names, pytest_args = argv[:split], argv[split + 1 :]
    suites = sorted(path.parent for path in TESTS.glob("*/pytest.ini"))
    if names:
        suites = [suite for suite in suites if suite.name in names]
    RESULTS.mkdir(exist_ok=True)
    where = os.environ.get("DATABASE_URL") or "the embedded PostgreSQL 18"
    print(f"Running {len(suites)} test suites against {where}")

    results = [run_suite(suite, pytest_args) for suite in suites]
    if not names:
        ruff = str(Path(sys.executable).parent / "ruff")
        results.append(run_check("ruff check", [ruff, "check", "."]))
        results.append(run_check("ruff format", [ruff, "format", "--check", "."]))

    print()
    for result in results:
        print(
            f"  {result.name:<24} {result.passed:>4} passed {result.failed:>3} failed"
            f" {result.skipped:>3} skipped  {result.seconds:6.1f}s"
        )
    passed = sum(result.passed for result in results)
    failed = sum(result.failed for result in results)
    skipped = sum(result.skipped for result in results)
    (RESULTS / "summary.txt").write_text(f"{passed} {failed} {skipped}\n")
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
