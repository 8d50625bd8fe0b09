"""The only functions a worker will run: those registered here, looked up by name.

A queue row names its task; it never holds a dotted path to import. Anyone who can write a row
must not be able to make the worker run arbitrary code.
"""

from collections.abc import Callable

TASKS: dict[str, Callable] = {}


class UnknownTask(LookupError):
    pass


def register(function: Callable) -> Callable:
    """Decorator: make `function` runnable by the worker under its own name."""
    TASKS[function.__name__] = function
    return function


def lookup(name: str) -> Callable:
    try:
        return TASKS[name]
    except KeyError:
        known = ", ".join(sorted(TASKS)) or "none"
        raise UnknownTask(f"unknown task {name!r}: not in the registry (known: {known})") from None
