"""What `POST /tasks/` accepts, checked field by field before anything is written.

A careless client and an attacker send the same things: the wrong type, a huge number, NaN,
a list nested 100,000 deep, a field name with a typo. Each is refused with a 400 whose message
names the field, never with Python's own words (`'<' not supported between ...`) or a 500.

    {"task": "greet", "args": [], "kwargs": {"name": "Ada"},
     "priority": 0, "queue": "default", "run_after": "2026-12-01T09:00:00Z", "key": "order-7"}

Only `task` is required. `task` must be one the HTTP API may enqueue (TASKQUEUE_HTTP_TASKS):
an unknown name and a name that is not allowed get the same answer, so the API does not tell
which tasks exist.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.tasks import default_task_backend
from django.tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY

from taskqueue import registry
from taskqueue.enqueue import MAX_KEY_LENGTH

FIELDS = {"task", "args", "kwargs", "priority", "queue", "run_after", "key"}
EXAMPLE = '{"task": "greet", "kwargs": {"name": "Ada"}}'


class BadRequest(ValueError):
    """A 400: `field` is what was wrong (None for the body as a whole)."""

    def __init__(self, field: str | None, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


@dataclass
class EnqueueRequest:
    task: str  # the import path of a registered task
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    key: str | None = None
    using: dict = field(default_factory=dict)  # priority, queue_name, run_after


MAX_DIGITS = 100  # a longer integer is no task's argument; Python refuses past 4,300 anyway


class NotJSON:
    """Stands in, while parsing, for what JSON does not allow (NaN, Infinity) or what is too
    big to be a number here: the field that holds it is named once the body is parsed."""

    def __init__(self, problem: str):
        self.problem = problem


def parse_number(text: str):
    if len(text.lstrip("-")) > MAX_DIGITS:
        return NotJSON(f"a number of {len(text.lstrip('-')):,} digits (at most {MAX_DIGITS})")
    return int(text)


def find_not_json(value) -> NotJSON | None:
    """The first NotJSON inside `value`, if any (iteratively: the body may nest deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, NotJSON):
            return item
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def parse(body: bytes) -> EnqueueRequest:
    found: list[NotJSON] = []

    def not_a_number(name: str) -> NotJSON:
        found.append(NotJSON(f"{name} is not a JSON number"))
        return found[-1]

    def number(text: str):
        value = parse_number(text)
        if isinstance(value, NotJSON):
            found.append(value)
        return value

    try:
        # UTF-8, as JSON over a network must be (RFC 8259): no guessing at UTF-16.
        data = json.loads(body.decode(), parse_constant=not_a_number, parse_int=number)
    except UnicodeDecodeError:
        raise BadRequest(None, "the body is not valid JSON: it is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise BadRequest(None, f"the body is not valid JSON: {error}") from None
    except RecursionError:
        raise BadRequest(None, "the body is nested too deeply") from None
    if found:
        if not isinstance(data, dict):
            raise BadRequest(None, f"the body is not valid JSON: {found[0].problem}")
        for name, value in data.items():
            if problem := find_not_json(value):
                where = name if name in FIELDS else None
                raise BadRequest(where, f"not valid JSON: {problem.problem}")
    if not isinstance(data, dict):
        raise BadRequest(None, f"send a JSON object like {EXAMPLE}")
    if unknown := sorted(set(data) - FIELDS):
        raise BadRequest(unknown[0], f"no such field (the fields are: {', '.join(sorted(FIELDS))})")
    request = EnqueueRequest(task=task_name(data.get("task")))
    if "args" in data:
        request.args = of_type(data, "args", list, "a list")
    if "kwargs" in data:
        request.kwargs = of_type(data, "kwargs", dict, "an object")
    if "key" in data:
        request.key = of_type(data, "key", str, "a string")
        if not 0 < len(request.key) <= MAX_KEY_LENGTH:
            raise BadRequest("key", f"must be 1 to {MAX_KEY_LENGTH} characters long")
    if "priority" in data:
        priority = data["priority"]
        # bool is an int in Python, not in JSON: `true` is not a priority.
        if type(priority) is not int or not TASK_MIN_PRIORITY <= priority <= TASK_MAX_PRIORITY:
            raise BadRequest(
                "priority",
                f"must be a whole number from {TASK_MIN_PRIORITY} to {TASK_MAX_PRIORITY}",
            )
        request.using["priority"] = priority
    if "queue" in data:
        served = sorted(default_task_backend.queues)
        if not isinstance(data["queue"], str) or data["queue"] not in served:
            raise BadRequest("queue", f"must be one of: {', '.join(served)}")
        request.using["queue_name"] = data["queue"]
    if "run_after" in data:
        request.using["run_after"] = moment(data["run_after"])
    return request


def task_name(name) -> str:
    """The import path of a task the HTTP API may enqueue, or the same 400 for any other."""
    allowed = settings.TASKQUEUE_HTTP_TASKS
    if not isinstance(name, str):
        raise BadRequest("task", f"required: the name of a task, as in {EXAMPLE}")
    try:
        definition = registry.lookup(name)
    except registry.UnknownTask:
        definition = None
    short = definition.module_path.rsplit(".", 1)[-1] if definition else None
    if definition is None or not ({definition.module_path, short} & set(allowed)):
        names = ", ".join(sorted(allowed)) or "none"
        raise BadRequest("task", f"unknown task {name[:100]!r} (tasks you may enqueue: {names})")
    return definition.module_path


def of_type(data: dict, name: str, kind: type, described: str):
    if not isinstance(data[name], kind):
        raise BadRequest(name, f"must be {described}, not {json_type(data[name])}")
    return data[name]


def json_type(value) -> str:
    names = {bool: "true or false", int: "a number", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def moment(value) -> datetime:
    """An aware ISO 8601 date and time: `2026-12-01T09:00:00Z`, `...+01:00`."""
    if not isinstance(value, str):
        raise BadRequest(
            "run_after", f"must be a date and time as a string, not {json_type(value)}"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            "run_after", f"{value[:50]!r} is not an ISO 8601 date and time like 2026-12-01T09:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise BadRequest("run_after", "needs a time zone, like 2026-12-01T09:00Z or ...+01:00")
    return parsed
