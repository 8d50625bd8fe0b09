"""`manage.py pressure`, shortened: a fixed enqueue rate through a held xid, analytics readers,
killed backends and a table lock. The lab measures; what is checked here is that it does what
it says (every phase sampled, the horizon held where it should be) and that no task is lost."""

import os

import pytest
from django.core.management import call_command

from lab.management.commands.pressure import PHASES
from taskqueue.models import Task
from workshop.demo import read_table

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.soak
def test_a_short_pressure_run_does_what_it_says_and_loses_nothing(capsys, test_db_env, monkeypatch):
    if os.environ.get("DATABASE_URL"):
        pytest.skip("on the embedded PostgreSQL only (keeps .ci/run short)")
    for key, value in test_db_env.items():  # the workers it starts use this test's database
        monkeypatch.setenv(key, value)

    call_command("pressure", rate=100, phase=3, sample=1.5, warm_up=1)

    table = read_table(capsys.readouterr().out)
    assert table["tasks lost"]["value"] == 0
    assert table["tasks not DONE 120 s after the last enqueue"]["value"] == 0
    assert table["tasks enqueued"]["value"] > 100 * 3 * 6 / 2  # the producer kept (about) its rate
    assert table["tasks enqueued"]["value"] == Task.objects.filter(status="DONE").count()
    # The held xid and the readers hold the horizon; nothing does in the clean phase. (In the
    # lock phase, the statements queued behind the lock are old transactions too.)
    assert table["clean"]["held"] == 0
    assert table["held xid"]["held"] > 0
    assert table["readers"]["held"] > 0
    assert list(table)[: len(PHASES)] == PHASES  # every phase sampled, in order
