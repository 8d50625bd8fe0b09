"""Periodic tasks: schedules declared in the settings, enqueued by the workers themselves.

    TASKQUEUE_SCHEDULES = {
        "hourly-hello": {"task": "greet", "cron": "0 * * * *", "kwargs": {"name": "World"}},
        "nightly-report": {"task": "report", "cron": "30 2 * * *", "timezone": "Europe/Paris"},
        "heartbeat": {"task": "noop", "every": 30},
    }

A schedule names instants, its ticks: those of a cron expression, read in the schedule's time
zone by croniter (which knows the daylight-saving changes), or every `every` seconds counted
from the Unix epoch, so that all workers compute the same ticks without asking anyone.

Every worker looks when a tick is due; exactly one of them enqueues it. The tick's row
(ScheduledTick) and the task are inserted in one transaction, and the UNIQUE key on
(schedule, tick) lets one INSERT win: the others find the row taken and do nothing. There is no
scheduler process to deploy, and no leader to elect.

What the workers do when a tick is not simply due:
- missed ticks (every worker was down, or busy): only the latest one runs, once;
- overlap: a tick comes while the schedule's previous task is still queued or running: skipped;
- a new schedule starts at its next tick: a nightly job deployed at noon does not run at noon.
A skipped tick keeps its row, with the reason, and a `schedule.skipped` line in the log.
"""

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from django.conf import settings
from django.core import checks

from taskqueue import dbtime, events, registry, sql
from taskqueue.db import atomic, connection
from taskqueue.enqueue import InvalidArguments, check_arguments, enqueue

KEYS = ("task", "cron", "every", "timezone", "args", "kwargs")
SCHEDULE_LOCK = 0x7A5C_0006  # with the schedule's name: one tick of a schedule at a time
LONGEST_WAIT = 60.0  # seconds: look at the database's clock at least this often
NEW = "new schedule: starts at its next tick"
OVERLAP = "the previous task is still queued or running"


class ScheduleError(ValueError):
    """A schedule in TASKQUEUE_SCHEDULES that cannot run, saying what is wrong with it."""


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    cron: str | None = None
    every: int | None = None  # seconds
    timezone: ZoneInfo = ZoneInfo("UTC")
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)

    def latest_tick(self, now: datetime) -> datetime:
        """The last tick at or before `now`, in UTC."""
        if self.every:
            return datetime.fromtimestamp(now.timestamp() // self.every * self.every, UTC)
        # croniter's get_prev() is strictly before its start; a tick at `now` itself is due.
        # The microsecond is added in UTC: arithmetic on a local time drops DST's `fold`, and
        # 02:30 of the second, winter, 02:00-03:00 hour would become 02:30 of the first.
        start = (now + timedelta(microseconds=1)).astimezone(self.timezone)
        return croniter(self.cron, start).get_prev(datetime).astimezone(UTC)

    def next_tick(self, now: datetime) -> datetime:
        """The first tick after `now`, in UTC."""
        if self.every:
            return self.latest_tick(now) + timedelta(seconds=self.every)
        return croniter(self.cron, now.astimezone(self.timezone)).get_next(datetime).astimezone(UTC)

    def ticks(self, start: datetime, count: int) -> list[datetime]:
        """The next `count` ticks after `start`, in the schedule's time zone."""
        ticks, now = [], start
        for _ in range(count):
            now = self.next_tick(now)
            ticks.append(now.astimezone(self.timezone))
        return ticks

    def describe(self) -> str:
        if self.every:
            return f"every {self.every} s"
        return f"cron '{self.cron}' in {self.timezone.key}"


def parse(name, spec) -> Schedule:
    """One entry of TASKQUEUE_SCHEDULES as a Schedule, or ScheduleError saying what is wrong."""
    where = f"TASKQUEUE_SCHEDULES[{name!r}]"
    if not isinstance(name, str) or not 0 < len(name) <= 100:
        raise ScheduleError(f"{where}: a schedule's name is a string of 1 to 100 characters")
    if not isinstance(spec, dict):
        raise ScheduleError(f"{where}: a dict, such as {{'task': 'greet', 'cron': '0 * * * *'}}")
    if unknown := sorted(set(spec) - set(KEYS)):
        raise ScheduleError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    if "task" not in spec:
        raise ScheduleError(f"{where}: no 'task' (the name of a @task, such as 'greet')")
    try:
        registry.lookup(spec["task"])
    except registry.UnknownTask as error:
        raise ScheduleError(f"{where}: {error}") from None
    if ("cron" in spec) == ("every" in spec):
        raise ScheduleError(
            f"{where}: {'both' if 'cron' in spec else 'neither'} 'cron' and 'every': give one,"
            " a cron expression ('cron': '0 * * * *') or an interval in seconds ('every': 60)"
        )
    cron, every = spec.get("cron"), spec.get("every")
    if cron is not None:
        if not isinstance(cron, str) or not croniter.is_valid(cron):
            raise ScheduleError(f"{where}: {cron!r} is not a cron expression, such as '0 * * * *'")
    elif type(every) is not int or every < 1:
        raise ScheduleError(f"{where}: 'every' is a whole number of seconds, at least 1")
    if "timezone" in spec and every is not None:
        raise ScheduleError(f"{where}: 'timezone' is for 'cron'; 'every' counts seconds in UTC")
    try:
        zone = ZoneInfo(spec.get("timezone", "UTC"))
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ScheduleError(
            f"{where}: unknown time zone {spec['timezone']!r} (an IANA name, such as"
            " 'Europe/Paris')"
        ) from None
    try:
        args, kwargs = check_arguments(spec.get("args"), spec.get("kwargs"))
    except InvalidArguments as error:
        raise ScheduleError(f"{where}: {error}") from None
    return Schedule(name, spec["task"], cron, every, zone, args, kwargs)


def configured() -> list[Schedule]:
    """The schedules of the settings; ScheduleError for the first that cannot run."""
    return [parse(name, spec) for name, spec in settings.TASKQUEUE_SCHEDULES.items()]


def check_schedules(app_configs=None, **kwargs) -> list[checks.Error]:
    """A Django system check: `manage.py worker` (and `check`) stops before it starts, with
    the message, when a schedule is wrong."""
    if not isinstance(settings.TASKQUEUE_SCHEDULES, dict):
        return [checks.Error("TASKQUEUE_SCHEDULES must be a dict", id="taskqueue.E001")]
    errors = []
    for name, spec in settings.TASKQUEUE_SCHEDULES.items():
        try:
            parse(name, spec)
        except ScheduleError as error:
            errors.append(checks.Error(str(error), id="taskqueue.E001"))
    return errors


def enqueue_tick(schedule: Schedule, tick: datetime, worker: str = "") -> int | None:
    """Enqueue `schedule`'s task for `tick`, unless another worker has (or the tick is
    skipped). One transaction: the tick's row and its task are committed together, or neither.
    Returns the task's id, or None."""
    with atomic(), connection.cursor() as cursor:
        cursor.execute(sql.CLAIM_TICK, [schedule.name, tick])
        if cursor.fetchone() is None:
            # Another worker has this tick. (Had its transaction still been open, this INSERT
            # would have waited for it: to find the row if it committed, to win if not.)
            events.emit("schedule.taken", schedule=schedule.name, tick=iso(tick), worker=worker)
            return None
        # The UNIQUE key makes each tick run once. This lock only orders two different ticks of
        # one schedule, so that the later one sees the earlier one's task.
        cursor.execute(sql.LOCK_SCHEDULE, [SCHEDULE_LOCK, schedule.name])
        cursor.execute(sql.BEFORE_TICK, {"schedule": schedule.name, "tick": tick})
        last, unfinished = cursor.fetchone()
        if last is None or unfinished is not None:
            reason = NEW if last is None else OVERLAP
            cursor.execute(sql.TICK_SKIPPED, [reason, schedule.name, tick])
            events.emit(
                "schedule.skipped",
                schedule=schedule.name,
                tick=iso(tick),
                reason=reason,
                **({"task": unfinished} if unfinished else {}),
                worker=worker,
            )
            return None
        if last < schedule.latest_tick(tick - timedelta(microseconds=1)):
            # Ticks between `last` and this one passed with no worker looking. Only this one
            # runs: twelve hellos (or reports, or clean-ups) in a row would help nobody.
            events.emit("schedule.missed", schedule=schedule.name, last=iso(last), tick=iso(tick))
        task = enqueue(schedule.task, schedule.kwargs, args=schedule.args)
        cursor.execute(sql.TICK_ENQUEUED, [task.pk, schedule.name, tick])
    events.emit(
        "schedule.enqueued", schedule=schedule.name, tick=iso(tick), task=task.pk, worker=worker
    )
    return task.pk


class Scheduler:
    """A worker's part in the schedules: look at each tick, enqueue what is due."""

    def __init__(self, worker: str, schedules: list[Schedule] | None = None):
        self.worker = worker
        self.schedules = configured() if schedules is None else schedules
        self.handled: dict[str, datetime] = {}  # the latest tick this worker tried, by schedule
        self._next_look = 0.0  # time.monotonic()

    def seconds_to_next_look(self) -> float:
        """How long an idle worker may wait before it should look again."""
        if not self.schedules:
            return math.inf
        return max(0.0, self._next_look - time.monotonic())

    def enqueue_due(self) -> list[int]:
        """If a tick has come: enqueue it (unless another worker did); return the task ids."""
        if not self.schedules or time.monotonic() < self._next_look:
            return []
        now = dbtime.now()
        enqueued = []
        for schedule in self.schedules:
            tick = schedule.latest_tick(now)
            if self.handled.get(schedule.name) != tick:
                if task := enqueue_tick(schedule, tick, self.worker):
                    enqueued.append(task)
                self.handled[schedule.name] = tick
        # The ticks are the database's time; the worker's own clock only measures the wait.
        # Capped, so that a changed system clock or a suspended machine is noticed.
        soonest = min(schedule.next_tick(now) for schedule in self.schedules)
        wait = min((soonest - now).total_seconds(), LONGEST_WAIT)
        self._next_look = time.monotonic() + wait
        return enqueued


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
