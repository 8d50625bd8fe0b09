"""The task functions this stage's worker may run."""

import time

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
def fail(message="this task always fails"):
    raise RuntimeError(message)
