"""`manage.py demo`, the workshop's demo for this stage, shows what the README promises."""

import pytest
from django.core.management import call_command

from workshop.demo import read_table

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_shows_the_double_claim_and_the_locked_fix(capsys, test_db_env, monkeypatch):
    # The demo starts its own workers: point them at this test's database.
    for key, value in test_db_env.items():
        monkeypatch.setenv(key, value)

    call_command("demo", tasks=30, race_window=0.3)

    table = read_table(capsys.readouterr().out)
    naive_ran_twice = table["naive"]["tasks that ran twice"]
    locked_ran_twice = table["locked"]["tasks that ran twice"]
    assert naive_ran_twice >= 10
    assert locked_ran_twice == 0
