"""The only functions a worker will run: the `@task` functions of this project, by import path.

A queue row names its task; the worker never imports what a row says. Anyone who can write a row
must not be able to make the worker run arbitrary code.

Stage 5: tasks are Django's own (`from django.tasks import task`). Our backend's task class
(backend.py) carries the retry policy, and adds each task here as it is defined.
"""

TASKS: dict = {}  # import path -> QueueTask


class UnknownTask(LookupError):
    pass


def register(task) -> None:
    # `task.using(priority=...)` makes a copy of a task; the registry keeps the definition.
    TASKS.setdefault(task.module_path, task)


def lookup(name: str):
    """A task by import path (`taskqueue.tasks.greet`) or, when it is unambiguous, by function
    name (`greet`), which is what a person types."""
    if name in TASKS:
        return TASKS[name]
    matches = [task for path, task in TASKS.items() if path.rsplit(".", 1)[-1] == name]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(sorted(path.rsplit(".", 1)[-1] for path in TASKS)) or "none"
    raise UnknownTask(f"unknown task {name!r}: not in the registry (known: {known})")
