"""The task functions this stage's worker may run."""

import ctypes
import os
import signal
import time

from taskqueue.models import SentEmail
from taskqueue.registry import register


@register
def noop():
    """Does nothing: for measuring the queue itself."""


@register
def greet(name="World"):
    return f"Hello, {name}!"


@register
def pretend_work(ms=5):
    """Stands in for real work (an e-mail, an API call) by sleeping `ms` milliseconds."""
    time.sleep(ms / 1000)


@register
def hold_the_gil(seconds=1.0):
    """Stands in for a C extension that keeps the GIL while it works: no other thread of the
    worker runs until it returns, the heartbeat included (README, section 3)."""
    ctypes.PyDLL(None).usleep(int(seconds * 1_000_000))


@register(retry_on=(RuntimeError,), max_attempts=3, backoff_base=0.1)
def fail(message="this task always fails"):
    """Fails every time with a retryable error: retried twice, then DEAD."""
    raise RuntimeError(message)


@register(retry_on=(ConnectionError,))
def reject(message="this task fails for good"):
    """Fails with an error it does not retry: FAILED at once."""
    raise ValueError(message)


@register(max_attempts=3)
def crash_worker():
    """Kills the worker that runs it, every time: a poison task. Ends DEAD, not in a loop."""
    os.kill(os.getpid(), signal.SIGKILL)


@register
def send_welcome_email(user_id):
    """An idempotent side effect: the UNIQUE key makes a second run a no-op.

    get_or_create inserts the row only if no row has the key; if this attempt ran before (the
    worker died after sending, before marking DONE), it finds the row and sends nothing new.
    """
    email, created = SentEmail.objects.get_or_create(
        key=f"welcome:{user_id}", defaults={"to": f"user-{user_id}@example.com"}
    )
    return "sent" if created else "already sent"
