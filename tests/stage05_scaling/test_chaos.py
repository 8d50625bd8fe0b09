"""`manage.py chaos`, shortened: workers killed with SIGKILL every second under load, and the
database restarted half-way (the embedded one only). Nothing is lost, nothing is left
unfinished, and no e-mail is sent twice."""

import os

import pytest
from django.core.management import call_command

from taskqueue.models import SentEmail, Task
from workshop.demo import read_table

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_short_chaos_run_loses_nothing_and_repeats_no_side_effect(
    capsys, test_db_env, monkeypatch
):
    for key, value in test_db_env.items():  # the workers it starts use this test's database
        monkeypatch.setenv(key, value)

    call_command("chaos", tasks=400, duration=6, kill_every=1, processes=3, seed=7)

    out = capsys.readouterr().out
    assert "Nothing lost, nothing unfinished, no side effect twice." in out
    # The same facts, read here from the table rather than from the command's own report:
    assert Task.objects.count() == 400
    assert Task.objects.filter(status="DONE").count() == 400
    assert SentEmail.objects.count() == 400
    happened = read_table(out)
    assert happened["workers killed with SIGKILL"]["value"] == 6
    if not os.environ.get("DATABASE_URL"):  # only the embedded server is restarted
        assert happened["database restarted"]["value"] == "yes"
