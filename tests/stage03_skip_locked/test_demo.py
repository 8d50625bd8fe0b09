"""`manage.py demo`, the workshop's demo, shows what the README promises: no task twice."""

import pytest
from django.core.management import call_command

from workshop.demo import read_table

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_runs_every_task_once_with_one_two_and_four_workers(capsys, test_db_env, monkeypatch):
    # The demo starts its own workers: point them at this test's database.
    for key, value in test_db_env.items():
        monkeypatch.setenv(key, value)

    call_command("demo", tasks=30, race_window=0.3)

    table = read_table(capsys.readouterr().out)
    assert list(table) == ["1", "2", "4"]
    assert [row["tasks that ran twice"] for row in table.values()] == [0, 0, 0]
    assert [row["tasks done"] for row in table.values()] == [30, 30, 30]
