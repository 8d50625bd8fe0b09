"""`manage.py demo`, the workshop's demo: a burst over a supervised pool of worker processes,
every task done, then latency measured both ways on an idle queue."""

import pytest
from django.core.management import call_command

from taskqueue.models import Task
from workshop.demo import read_table

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_runs_every_task_and_reports_throughput_and_latency(capsys, test_db_env, monkeypatch):
    # The demo starts its own workers: point them at this test's database.
    for key, value in test_db_env.items():
        monkeypatch.setenv(key, value)

    call_command("demo", tasks=2_000, processes=2, samples=5)

    rows = read_table(capsys.readouterr().out)
    assert Task.objects.filter(status=Task.Status.DONE).count() == 2_000 + 2 * 5
    assert float(rows["processed, tasks/s"]["value"].replace(",", "")) > 0
    notify = rows["LISTEN/NOTIFY: enqueue to start"]
    poll = rows["polling (backoff to 1 s): enqueue to start"]
    assert 0 <= float(notify["p50"]) <= float(notify["p95"]) <= float(notify["p99"])
    assert 0 <= float(poll["p50"]) <= float(poll["p95"]) <= float(poll["p99"])
