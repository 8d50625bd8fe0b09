"""The task functions this stage's worker may run: Django's own `@task`, with the retry policy
our backend adds (backend.py: max_attempts, retry_on, backoff_base, backoff_cap)."""

import os
import signal
import time

from django.tasks import task

from taskqueue.models import SentEmail


@task
def noop():
    """Does nothing: for measuring the queue itself."""


@task
def greet(name="World"):
    return f"Hello, {name}!"


@task
def pretend_work(ms=5):
    """Stands in for real work (an e-mail, an API call) by sleeping `ms` milliseconds."""
    time.sleep(ms / 1000)


@task
def burn_cpu(ms=5):
    """Computes for `ms` milliseconds (a report, an image resize): holds the GIL all along."""
    deadline = time.perf_counter() + ms / 1000
    while time.perf_counter() < deadline:
        pass


@task(retry_on=(RuntimeError,), max_attempts=3, backoff_base=0.1)
def fail(message="this task always fails"):
    """Fails every time with a retryable error: retried twice, then DEAD."""
    raise RuntimeError(message)


@task(retry_on=(ConnectionError,))
def reject(message="this task fails for good"):
    """Fails with an error it does not retry: FAILED at once."""
    raise ValueError(message)


@task(max_attempts=3)
def crash_worker():
    """Kills the worker that runs it, every time: a poison task. Ends DEAD, not in a loop."""
    os.kill(os.getpid(), signal.SIGKILL)


@task(queue_name="emails", max_attempts=20)
def send_welcome_email(user_id, ms=0):
    """An idempotent side effect: the UNIQUE key makes a second run a no-op.

    get_or_create inserts the row only if no row has the key; if this attempt ran before (the
    worker died after sending, before marking DONE), it finds the row and sends nothing new.
    `ms`: how long the mail server takes to answer (the chaos run uses it).
    """
    email, created = SentEmail.objects.get_or_create(
        key=f"welcome:{user_id}", defaults={"to": f"user-{user_id}@example.com"}
    )
    time.sleep(ms / 1000)
    return "sent" if created else "already sent"


@task(takes_context=True)
def which_attempt(context):
    """Django's TaskContext: the task learns its own attempt number and result id."""
    return {"attempt": context.attempt, "id": context.task_result.id}


@task
async def greet_later(name="World"):
    """A coroutine task: the worker runs it to completion."""
    return f"Hello, {name}!"
