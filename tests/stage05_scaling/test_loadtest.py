"""The locust scenario runs for real, briefly: users enqueue over HTTP through gunicorn, real
workers run the tasks, and `loadtest` writes one CSV row per worker count."""

import csv

import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.soak]


def test_loadtest_measures_each_worker_count_and_writes_csv(tmp_path, test_db_env, monkeypatch):
    # gunicorn, the workers and locust are processes of their own: point them at this test's DB.
    for key, value in test_db_env.items():
        monkeypatch.setenv(key, value)
    output = tmp_path / "load.csv"

    call_command(
        "loadtest", "--workers", "1", "2", "--seconds", "4", "--users", "4", "--task-ms", "10",
        "--output", str(output),
    )  # fmt: skip

    rows = list(csv.DictReader(output.open()))
    assert [row["workers"] for row in rows] == ["1", "2"]
    for row in rows:
        assert float(row["tasks_per_second"]) > 0
        assert row["failures"] == "0"
        assert 0 < float(row["p50_ms"]) <= float(row["p99_ms"])
