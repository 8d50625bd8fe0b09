"""`manage.py compare_threads` runs each kind of task with processes and with threads (a worker
in a thread leaves signals alone), and every task gets done each time."""

import pytest
from django.core.management import call_command

from taskqueue.models import Task
from workshop.demo import read_table

pytestmark = pytest.mark.django_db(transaction=True)


def test_compare_threads_runs_every_kind_both_ways(capsys, test_db_env, monkeypatch):
    for key, value in test_db_env.items():  # the worker processes it starts use this database
        monkeypatch.setenv(key, value)

    call_command("compare_threads", noop_tasks=200, slow_tasks=20)

    table = read_table(capsys.readouterr().out)
    assert {"1 process", "2 processes", "2 threads", "4 threads"} <= set(table["5 ms of waiting"])
    assert Task.objects.filter(status="DONE").count() == 20  # the last run drained its burst
    assert Task.objects.exclude(status="DONE").count() == 0
