"""`manage.py demo`, the workshop's demo, shows what the README promises: a worker killed
mid-run, failing tasks, and nothing lost."""

import pytest
from django.core.management import call_command

from workshop.demo import read_table

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_loses_nothing(capsys, test_db_env, monkeypatch):
    # The demo starts its own workers: point them at this test's database.
    for key, value in test_db_env.items():
        monkeypatch.setenv(key, value)

    call_command("demo", tasks=60)

    rows = {name: row["tasks"] for name, row in read_table(capsys.readouterr().out).items()}
    assert rows["DONE"] == 60
    assert rows["FAILED (not retryable)"] == 5
    assert rows["DEAD (3 attempts used)"] == 10
    assert rows["still QUEUED or IN_PROGRESS"] == 0
