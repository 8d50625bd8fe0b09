"""The task functions this stage's worker may run: Django's own `@task`, with the retry policy
our backend adds (backend.py: max_attempts, retry_on, backoff_base, backoff_cap)."""

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from pathlib import Path

from django.db import connection
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
def wait_for_api(ms=50):
    """Waits `ms` milliseconds, at most 1,000, as a call to another service would: the load
    test's task. The HTTP API may enqueue it (TASKQUEUE_HTTP_TASKS), so it is bounded: a
    client must not be able to put a worker to sleep for an hour."""
    if not (type(ms) in (int, float) and 0 <= ms <= 1000):
        raise ValueError(f"ms must be a number from 0 to 1000, not {ms!r}")
    time.sleep(ms / 1000)


@task
def burn_cpu(ms=5):
    """Computes for `ms` milliseconds (a report, an image resize): holds the GIL all along."""
    deadline = time.perf_counter() + ms / 1000
    while time.perf_counter() < deadline:
        pass


@task
def hold_the_gil(seconds=1.0):
    """Stands in for a C extension that keeps the GIL while it works (many do): no other thread
    of the worker runs until it returns. libc's usleep, called through ctypes.PyDLL, which
    does not release the GIL around the call."""
    ctypes.PyDLL(None).usleep(int(seconds * 1_000_000))


@task(timeout=1.0, max_attempts=2, backoff_base=0.1)
def slow_api_call(ms=5000):
    """Stands in for a call to a service that sometimes hangs: its time limit (1 s) ends the
    attempt, which fails with TimeLimitExceeded and is retried once."""
    time.sleep(ms / 1000)


@task(timeout=1.0, max_attempts=1)
def stuck_in_c(seconds=30.0):
    """Past its time limit inside C code that keeps the GIL: the worker cannot stop it, so its
    supervisor kills the worker process."""
    ctypes.PyDLL(None).usleep(int(seconds * 1_000_000))


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


@task(takes_context=True)
async def pretend_work_async(context, ms=5, log=""):
    """pretend_work as a coroutine. `log`: a file to note each attempt's start and end in."""
    note(log, f"start {context.attempt}")
    try:
        await asyncio.sleep(ms / 1000)
    finally:
        await asyncio.sleep(0.2)  # a cleanup that awaits, as closing a client does
        note(log, f"end {context.attempt}")


@task(timeout=1.0, max_attempts=2, backoff_base=0.1, takes_context=True)
async def slow_async_call(context, ms=5000, log=""):
    """The coroutine twin of slow_api_call: past its time limit it is cancelled, its `finally`
    runs, and it is retried once. `log`: a file to note each attempt's start and end in."""
    note(log, f"start {context.attempt}")
    try:
        await asyncio.sleep(ms / 1000)
    finally:
        await asyncio.sleep(0.2)  # a cleanup that awaits, as closing a client does
        note(log, f"end {context.attempt}")


@task(timeout=1.0, max_attempts=2, backoff_base=0.1, takes_context=True)
async def deaf_coroutine(context, seconds=30.0, log=""):
    """A coroutine that ignores being cancelled: only the end of its worker process stops it."""
    note(log, f"start {context.attempt}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        # The mistake: a cancelled coroutine must let CancelledError through.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(deadline - time.monotonic())
    note(log, f"end {context.attempt}")


def note(path: str, line: str) -> None:
    if path:
        with Path(path).open("a") as file:
            file.write(f"{line} {os.getpid()}\n")


@task
def backend_pid():
    """The process id of this task's database session (the tests terminate it)."""
    connection.ensure_connection()
    return connection.connection.info.backend_pid


@task
def count_sent_emails():
    """A task that reads the database."""
    return SentEmail.objects.count()


@task
def leave_the_session_changed():
    """Careless code: it changes its database session and leaves it so, inside a transaction
    it never ends. The worker's own claims must not notice (connections.py)."""
    with connection.cursor() as cursor:
        cursor.execute("SET default_transaction_read_only = on")
        cursor.execute("SET statement_timeout = '1ms'")
        cursor.execute("BEGIN")


@task
def exit_the_process(code=1):
    """A command-line entry point run as a task: it calls sys.exit(). The task fails; its
    worker lives on."""
    sys.exit(code)
