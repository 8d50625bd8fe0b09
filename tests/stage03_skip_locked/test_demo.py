"""`manage.py demo`, the workshop's demo, shows what the README promises: no task twice."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_runs_every_task_once_with_one_two_and_four_workers(capsys, test_db_env, monkeypatch):
    # The demo starts its own workers: point them at this test's database.
    for key, value in test_db_env.items():
        monkeypatch.setenv(key, value)

    call_command("demo", tasks=30, race_window=0.3)

    rows = [line.split("│")[1:-1] for line in capsys.readouterr().out.splitlines() if "│" in line]
    assert [row[0].strip() for row in rows] == ["1", "2", "4"]
    assert [int(row[-1]) for row in rows] == [0, 0, 0]  # tasks that ran twice
    assert [int(row[1]) for row in rows] == [30, 30, 30]  # tasks done
