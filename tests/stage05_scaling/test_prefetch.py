"""The worker claims as many tasks as it can start soon: tiny tasks in big batches, slow ones
one at a time, so that no worker hoards tasks another could start."""

import re
import signal

import pytest

from taskqueue.enqueue import enqueue_many
from taskqueue.models import Task
from taskqueue.prefetch import MOST, Prefetch
from workshop.processes import wait_until
from workshop.testing.logfmt import events


def test_the_batch_grows_while_tasks_are_quick_and_shrinks_to_what_fits():
    prefetch = Prefetch()
    sizes = []
    for _ in range(10):
        prefetch.ran(prefetch.size, prefetch.size * 0.0001)  # 0.1 ms a task
        sizes.append(prefetch.size)
    assert sizes == [2, 4, 8, 16, 32, 64, MOST, MOST, MOST, MOST]

    prefetch.ran(MOST, MOST * 0.005)  # 5 ms a task: 20 fit in 0.1 s
    assert prefetch.size == 20
    prefetch.ran(20, 20 * 1.0)  # a second a task
    assert prefetch.size == 1


def test_a_fixed_batch_size_stays_fixed():
    prefetch = Prefetch(fixed=21)
    prefetch.ran(21, 21.0)
    assert prefetch.size == 21


@pytest.mark.django_db(transaction=True)
def test_slow_tasks_are_shared_out_not_hoarded(manage):
    enqueue_many("pretend_work", [{"ms": 500}] * 8)

    supervisor = manage("worker", "-v2", "--processes", "4")

    wait_until(lambda: Task.objects.filter(status="DONE").count() == 8, timeout=60)
    claims = [int(line["tasks"]) for line in events(supervisor.lines, "claim")]
    assert max(claims) == 1  # never more than the task about to start
    workers = {line["worker"] for line in events(supervisor.lines, "task.start")}
    assert len(workers) == 4  # every worker had its share
    assert re.search(r"event=worker.ready .*batch=auto", supervisor.output)
    supervisor.stop(signal.SIGTERM)
