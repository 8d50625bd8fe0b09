"""The worker loop: claim a batch, run each task, record how it ended, repeat."""

import os
import socket
import time
import traceback
from collections.abc import Callable

from django.utils import timezone

from taskqueue import registry
from taskqueue.models import Execution, Task


class Worker:
    def __init__(
        self,
        claim: Callable,
        batch_size: int = 10,
        poll_interval: float = 1.0,
        race_window: float = 0.0,
        burst: bool = False,
        log: Callable[[str], None] = print,
    ):
        self.id = f"{socket.gethostname()}:{os.getpid()}"
        self.claim = claim
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.race_window = race_window
        self.burst = burst
        self.log = log
        self.processed = 0

    def run(self) -> None:
        """Loop until stopped; with `burst`, return as soon as the queue is empty."""
        while True:
            tasks = self.claim(self.batch_size, self.id, self.race_window)
            if not tasks:
                if self.burst:
                    return
                time.sleep(self.poll_interval)
                continue
            for task in tasks:
                self.execute(task)

    def execute(self, task: Task) -> None:
        Execution.objects.create(task=task, worker=self.id)
        try:
            function = registry.lookup(task.name)
            function(**task.kwargs)
        except Exception as error:
            # A failing task must never take the worker down with it: record it and go on.
            task.status = Task.Status.FAILED
            if isinstance(error, registry.UnknownTask):
                task.error = str(error)
            else:
                task.error = traceback.format_exc()
        else:
            task.status = Task.Status.DONE
        task.finished_at = timezone.now()
        task.save(update_fields=["status", "error", "finished_at"])
        self.processed += 1
        self.log(f"{self.id} {task.status} task {task.pk} {task.name}")
