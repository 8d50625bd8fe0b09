"""`manage.py chaos`, shortened: workers killed with SIGKILL every second under load, and the
database restarted half-way (the embedded one only), a worker killed while the task table is
locked, coroutine tasks past their time limit. Nothing is lost, nothing is left unfinished or
held by a worker that is gone, no e-mail is sent twice, and no two attempts of a task overlap."""

import os

import pytest
from django.core.management import call_command

from taskqueue.models import SentEmail, Task
from workshop.demo import read_table

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.soak]


def test_a_short_chaos_run_loses_nothing_and_repeats_no_side_effect(
    capsys, test_db_env, monkeypatch
):
    for key, value in test_db_env.items():  # the workers it starts use this test's database
        monkeypatch.setenv(key, value)

    call_command("chaos", tasks=400, duration=6, kill_every=1, processes=3, seed=7)

    out = capsys.readouterr().out
    assert "Nothing lost, nothing unfinished, no side effect twice." in out
    # The same facts, read here from the table rather than from the command's own report:
    emails = Task.objects.filter(name="taskqueue.tasks.send_welcome_email")
    assert emails.count() == 400
    assert emails.filter(status="DONE").count() == 400
    assert SentEmail.objects.count() == 400
    happened = read_table(out)
    assert happened["workers killed with SIGKILL"]["value"] == 6
    assert happened["tasks IN_PROGRESS past the bound"]["measured"] == 0
    assert happened["overlapping attempts of one task"]["measured"] == 0
    if not os.environ.get("DATABASE_URL"):  # only the embedded server is restarted
        assert happened["database restarted"]["value"] == "yes"
