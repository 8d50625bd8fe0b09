"""The only functions a worker will run: those registered here, looked up by name.

A queue row names its task; it never holds a dotted path to import. Anyone who can write a row
must not be able to make the worker run arbitrary code.

Stage 4: each task also says how it is retried.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    function: Callable
    max_attempts: int = 5
    # Exceptions worth another attempt (a timeout, a dropped connection). Any other exception
    # fails the task at once: retrying a bug only repeats it.
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    backoff_base: float = 1.0  # seconds before the first retry, at most
    backoff_cap: float = 300.0  # never wait longer than this between attempts


TASKS: dict[str, TaskSpec] = {}


class UnknownTask(LookupError):
    pass


def register(function: Callable | None = None, **options):
    """Decorator: `@register` or `@register(max_attempts=3, retry_on=(TimeoutError,))`."""

    def add(function: Callable) -> Callable:
        TASKS[function.__name__] = TaskSpec(function, **options)
        return function

    return add(function) if function is not None else add


def lookup(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        known = ", ".join(sorted(TASKS)) or "none"
        raise UnknownTask(f"unknown task {name!r}: not in the registry (known: {known})") from None
