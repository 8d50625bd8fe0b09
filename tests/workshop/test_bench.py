"""`make bench` works: one run at a tiny size writes every row, with positive numbers.

Benchmarks print numbers; nothing here asserts a speed (a shared machine would make such a test
flaky). The alternatives are left to `make bench`: they are an optional dependency group."""

import csv
import os
import subprocess
import sys

import pytest

from workshop import REPO_ROOT
from workshop.bench import enqueue, growth, processing, real_tasks, report

EXPECTED = [
    enqueue.ONE,
    enqueue.ONE_STATEMENT,
    enqueue.ONE_PLAIN,
    enqueue.BULK,
    enqueue.BULK_PLAIN,
    enqueue.MANY_PLAIN,
    enqueue.MANY_QUIET,
    enqueue.MANY_NOTIFY,
    "stage 2 (FOR UPDATE), 2 processes, batch 100",
    "stage 3 (SKIP LOCKED), 2 processes, batch 100",
    *(processing.stage5_name(p, b) for b in (100, 1) for p in (1, 2, 4)),
    processing.ORM_LOOP,
    processing.ORM_LOOP_TWO_WRITES,
    processing.PSYCOPG_LOOP,
    real_tasks.FIVE_MS,
    real_tasks.ONE_SECOND,
    *(f"LISTEN/NOTIFY, enqueue to start, {p}" for p in ("p50", "p95", "p99")),
    *(f"polling (backoff to 1 s), enqueue to start, {p}" for p in ("p50", "p95", "p99")),
    growth.name(2_000),
    *(f"{label}, 2,000 finished rows" for label in growth.PROBES.values()),
    "retention, pruning 2,000 finished rows",
    "pgbench, stage 5 SQL, batch 100",
    "pgbench, stage 5 SQL, batch 1",
]


def test_a_quick_run_writes_every_row_with_a_positive_number(tmp_path):
    if os.environ.get("DATABASE_URL"):
        # Stage 5's own suite runs on both servers; the bench's plumbing needs one (.ci/run).
        pytest.skip("the quick bench runs on the embedded PostgreSQL only")
    families = "enqueue,processing,real,latency,growth,pgbench"
    command = [sys.executable, "-m", "workshop.bench", "--quick", "--only", families]
    result = subprocess.run(
        [*command, "--out", str(tmp_path)], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr

    with open(tmp_path / "bench.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == report.COLUMNS
    measured = {row["name"]: row for row in rows if row["group"] != "targets"}
    assert list(measured) == EXPECTED
    for row in measured.values():
        assert float(row["value"]) > 0, row
    targets = [row for row in rows if row["group"] == "targets"]
    assert len(targets) == 12
    assert {row["note"] for row in targets} <= {"ok", "missed"}
    assert float(measured[processing.STAGE5_REFERENCE]["ratio_to_stage5"]) == 1.0
    text = (tmp_path / "bench.txt").read_text()
    assert processing.STAGE5_REFERENCE in text and "noise" in text
    assert "Benchmark" in result.stdout  # the printed table


def test_pairs_in_turns_report_the_median_ratio_and_its_range(monkeypatch):
    from workshop.bench import turns

    rounds = [[1, "10", "20", "0.50"], [2, "10", "10", "1.00"], [3, "9", "10", "0.90"]]
    assert turns.spread(rounds, 3) == "0.90 (0.50-1.00)"
    calls = []
    monkeypatch.setattr(turns, "stage5_rate", lambda *args: calls.append("stage 5") or 1.0)

    def reference():
        calls.append("reference")
        return 2.0

    assert turns.alternating(1, reference) == (1.0, 2.0)
    assert turns.alternating(2, reference) == (1.0, 2.0)
    assert calls == ["stage 5", "reference", "reference", "stage 5"]  # in turns
