"""Periodic tasks (taskqueue/schedules.py): however many workers look, each tick is enqueued
once, and the UNIQUE key on (schedule, tick) is what decides; after downtime only the latest
missed tick runs; a tick waits for no task still running; a new schedule starts at its next
tick; croniter reads a cron expression in a time zone, across the daylight-saving changes."""

import json
import re
import signal
from collections import defaultdict
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from taskqueue import dbtime
from taskqueue.models import ScheduledTick, Task
from taskqueue.retention import prune
from taskqueue.schedules import (
    NEW,
    OVERLAP,
    Schedule,
    ScheduleError,
    Scheduler,
    enqueue_tick,
    iso,
    parse,
)
from workshop.processes import wait_until
from workshop.testing.logfmt import events
from workshop.testing.threads import InThread

db = pytest.mark.django_db(transaction=True)
PARIS = ZoneInfo("Europe/Paris")
NOON = datetime(2026, 1, 1, 12, tzinfo=UTC)


def schedules_env(schedules: dict) -> dict:
    return {"TASKQUEUE_SCHEDULES": json.dumps(schedules)}


def seen_before(schedule: Schedule, tick: datetime, task_id: int | None = None) -> None:
    """A tick row from earlier, so that the schedule is not new."""
    ScheduledTick.objects.create(schedule=schedule.name, tick=tick, task_id=task_id)


def local(ticks: list[datetime]) -> list[str]:
    return [f"{tick:%d %H:%M %Z}" for tick in ticks]


# Several workers, one enqueue per tick.


@db
def test_three_worker_processes_enqueue_each_tick_exactly_once(manage):
    """An idle worker here looks at the table every 30 s: only the ticks wake them, all three
    at once, and all three try to enqueue each tick."""
    supervisor = manage(
        "worker",
        "-v2",
        "--processes",
        "3",
        "--poll-interval",
        "30",
        env=schedules_env({"each-second": {"task": "noop", "every": 1}}),
    )
    wait_until(
        lambda: len(events(supervisor.lines, "worker.ready")) == 3, what="three workers ready"
    )
    wait_until(
        lambda: ScheduledTick.objects.filter(task_id__isnull=False).count() >= 5,
        what="five ticks enqueued",
    )
    assert supervisor.stop(signal.SIGTERM) == 0

    first, *rest = ScheduledTick.objects.filter(schedule="each-second").order_by("tick")
    assert (first.task_id, first.skipped) == (None, NEW)  # the schedule was new at start
    ticks = [tick.tick for tick in (first, *rest)]
    assert ticks == [first.tick + timedelta(seconds=n) for n in range(len(ticks))]  # no gap
    task_ids = [tick.task_id for tick in rest]
    assert None not in task_ids
    tasks = Task.objects.filter(name="taskqueue.tasks.noop")
    assert sorted(tasks.values_list("pk", flat=True)) == sorted(task_ids)  # one each, no more
    enqueued = events(supervisor.lines, "schedule.enqueued")
    assert sorted(line["tick"] for line in enqueued) == [iso(tick) for tick in ticks[1:]]
    # Each worker logs every tick it tried: the winner "enqueued", the others "taken". At
    # least one tick was tried by all three, so the INSERTs really did race.
    tried = defaultdict(set)
    for line in events(supervisor.lines):
        if line["event"] in ("schedule.enqueued", "schedule.taken"):
            tried[line["tick"]].add(line["worker"])
    assert max(len(workers) for workers in tried.values()) == 3


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
@db
def test_the_unique_key_decides_between_two_workers_at_the_same_tick(outcome):
    """Worker A has inserted the tick and its task but not committed when worker B tries the
    same tick. B's INSERT waits for A's transaction: if A commits, B does nothing; if A rolls
    back (it crashed), there is neither tick row nor task of A's, and B enqueues it."""
    schedule = Schedule("report", "noop", every=60)
    seen_before(schedule, NOON - timedelta(minutes=1))

    a_dies = pytest.raises(RuntimeError) if outcome == "rollback" else nullcontext()
    with a_dies, transaction.atomic():
        assert enqueue_tick(schedule, NOON, "worker-a") is not None
        b = InThread(enqueue_tick, schedule, NOON, "worker-b")
        wait_until(lambda: waiting_for_a_lock() == 1, what="worker B waiting for A")
        if outcome == "rollback":
            raise RuntimeError("worker A dies before its commit")

    task_b = b.result()
    assert (task_b is None) == (outcome == "commit")
    assert Task.objects.count() == 1
    assert ScheduledTick.objects.get(tick=NOON).task_id == Task.objects.get().pk


def waiting_for_a_lock() -> int:
    # pg_locks, not pg_stat_activity: the latter is read once per transaction, and this test
    # asks from inside one.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0]


@db
def test_a_tick_whose_task_was_pruned_does_not_run_again():
    """Why the ticks have a table of their own: retention deletes old tasks (and with them any
    idempotency key), but the tick row stays."""
    schedule = Schedule("report", "noop", every=60)
    seen_before(schedule, NOON - timedelta(minutes=1))
    task_id = enqueue_tick(schedule, NOON)
    eight_days_ago = dbtime.now() - timedelta(days=8)
    Task.objects.filter(pk=task_id).update(status="DONE", finished_at=eight_days_ago)
    assert prune(7 * 86400) == 1

    assert enqueue_tick(schedule, NOON) is None
    assert Task.objects.count() == 0


@db
def test_retention_keeps_the_latest_tick_of_each_schedule():
    recent = dbtime.now()
    old = recent - timedelta(days=30)
    for minutes in (0, 1, 2):
        ScheduledTick.objects.create(schedule="a", tick=old + timedelta(minutes=minutes))
    ScheduledTick.objects.create(schedule="b", tick=old)
    ScheduledTick.objects.create(schedule="b", tick=recent)

    prune(7 * 86400)

    left = ScheduledTick.objects.order_by("schedule", "tick").values_list("schedule", "tick")
    assert list(left) == [("a", old + timedelta(minutes=2)), ("b", recent)]


# Missed ticks, overlap, a new schedule.


@db
def test_after_downtime_only_the_latest_missed_tick_runs(manage):
    monthly = {"task": "greet", "cron": "0 0 1 * *", "kwargs": {"name": "again"}}
    schedule = parse("monthly", monthly)
    year_ago = schedule.latest_tick(dbtime.now() - timedelta(days=365))
    seen_before(schedule, year_ago, task_id=123456)  # its task long since pruned
    worker = manage("worker", "-v2", env=schedules_env({"monthly": monthly}))

    task_id = int(worker.wait_for(r"event=schedule.enqueued schedule=monthly .* task=(\d+)")[1])
    worker.wait_for(f"event=task.done task={task_id} ")
    assert worker.stop(signal.SIGTERM) == 0

    latest = schedule.latest_tick(dbtime.now())
    assert list(Task.objects.values_list("pk", flat=True)) == [task_id]
    ticks = ScheduledTick.objects.filter(schedule="monthly").order_by("tick")
    assert [(tick.tick, tick.task_id) for tick in ticks] == [
        (year_ago, 123456),
        (latest, task_id),  # the eleven ticks between: skipped, not even recorded
    ]
    (missed,) = events(worker.lines, "schedule.missed")
    assert (missed["level"], missed["last"], missed["tick"]) == (
        "warning",
        iso(year_ago),
        iso(latest),
    )


@db
def test_a_tick_is_skipped_while_the_previous_task_is_queued_or_running():
    schedule = Schedule("slow", "pretend_work", every=60)
    ticks = [NOON + timedelta(minutes=n) for n in range(5)]

    assert enqueue_tick(schedule, ticks[0]) is None  # a new schedule starts at its next tick
    first = enqueue_tick(schedule, ticks[1])
    assert enqueue_tick(schedule, ticks[2]) is None  # first is QUEUED
    Task.objects.filter(pk=first).update(status="IN_PROGRESS")
    assert enqueue_tick(schedule, ticks[3]) is None
    Task.objects.filter(pk=first).update(status="DONE")
    second = enqueue_tick(schedule, ticks[4])

    rows = ScheduledTick.objects.order_by("tick").values_list("task_id", "skipped")
    assert list(rows) == [(None, NEW), (first, ""), (None, OVERLAP), (None, OVERLAP), (second, "")]


@db
def test_a_new_schedule_starts_at_its_next_tick():
    schedule = Schedule("nightly", "noop", cron="0 3 * * *")
    scheduler = Scheduler("worker-a", [schedule])

    assert scheduler.enqueue_due() == []

    (tick,) = ScheduledTick.objects.all()
    assert (tick.tick, tick.task_id, tick.skipped) == (
        schedule.latest_tick(dbtime.now()),
        None,
        NEW,
    )
    assert Task.objects.count() == 0


# The settings: checked before a worker starts.


def test_the_settings_declare_the_hourly_hello(settings):
    (schedule,) = [parse(name, spec) for name, spec in settings.TASKQUEUE_SCHEDULES.items()]
    assert schedule == Schedule("hourly-hello", "greet", cron="0 * * * *", kwargs={"name": "World"})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"task": "nope", "every": 5}, "unknown task 'nope'"),
        ({"task": "greet", "cron": "61 * * * *"}, "'61 * * * *' is not a cron expression"),
        ({"task": "greet"}, "neither 'cron' and 'every': give one"),
        ({"task": "greet", "cron": "* * * * *", "every": 5}, "both 'cron' and 'every'"),
        ({"task": "greet", "every": 0.5}, "'every' is a whole number of seconds"),
        ({"task": "greet", "cron": "0 * * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"task": "greet", "every": 5, "kwarg": {}}, "unknown key 'kwarg'"),
        ({"task": "greet", "every": 5, "kwargs": {"name": {1, 2}}}, "must be JSON-serializable"),
    ],
)
def test_a_bad_schedule_says_what_is_wrong(spec, message):
    with pytest.raises(
        ScheduleError, match=re.escape("TASKQUEUE_SCHEDULES['x']: ") + ".*" + re.escape(message)
    ):
        parse("x", spec)


@db
def test_a_worker_with_a_bad_schedule_does_not_start(manage):
    bad = {"hourly": {"task": "greet", "cron": "0 * * *"}}
    worker = manage("worker", env=schedules_env(bad))

    assert worker.wait() == 1
    assert "(taskqueue.E001) TASKQUEUE_SCHEDULES['hourly']: '0 * * *' is not a cron" in (
        worker.output
    )
    assert "Traceback" not in worker.output
    assert "worker.ready" not in worker.output


# Ticks: fixed intervals from the epoch; cron in a time zone, across daylight saving.


def test_every_counts_from_the_epoch_so_all_workers_agree():
    every_5_minutes = Schedule("s", "noop", every=300)
    assert every_5_minutes.latest_tick(NOON + timedelta(minutes=7, seconds=30)) == NOON + (
        timedelta(minutes=5)
    )
    assert every_5_minutes.latest_tick(NOON) == NOON  # a tick at `now` is due now
    assert every_5_minutes.next_tick(NOON) == NOON + timedelta(minutes=5)


def test_a_nightly_0230_in_paris_runs_at_0300_on_the_spring_forward_night():
    """On 29 March 2026 Paris clocks jump from 02:00 to 03:00: 02:30 does not exist."""
    nightly = parse("nightly", {"task": "noop", "cron": "30 2 * * *", "timezone": "Europe/Paris"})

    ticks = nightly.ticks(datetime(2026, 3, 27, 12, tzinfo=PARIS), 3)

    assert local(ticks) == ["28 02:30 CET", "29 03:00 CEST", "30 02:30 CEST"]
    assert [f"{tick.astimezone(UTC):%H:%M}" for tick in ticks] == ["01:30", "01:00", "00:30"]


def test_an_hourly_schedule_in_paris_runs_every_real_hour_on_the_fall_back_night():
    """On 25 October 2026 Paris clocks go back from 03:00 to 02:00: 02:00-03:00 happens twice.
    Hourly, that is two runs at 02:00, an hour apart; a nightly 02:30 also runs twice."""
    hourly = parse("hourly", {"task": "noop", "cron": "0 * * * *", "timezone": "Europe/Paris"})
    nightly = parse("nightly", {"task": "noop", "cron": "30 2 * * *", "timezone": "Europe/Paris"})
    evening = datetime(2026, 10, 24, 23, 30, tzinfo=PARIS)

    ticks = hourly.ticks(evening + timedelta(hours=1), 4)

    assert local(ticks) == ["25 01:00 CEST", "25 02:00 CEST", "25 02:00 CET", "25 03:00 CET"]
    in_utc = [tick.astimezone(UTC) for tick in ticks]  # (local minus local is wall time)
    assert [f"{tick:%H:%M}" for tick in in_utc] == ["23:00", "00:00", "01:00", "02:00"]
    assert local(nightly.ticks(evening, 3)) == ["25 02:30 CEST", "25 02:30 CET", "26 02:30 CET"]
    # In the second 02:00-03:00 (02:45 CET is 01:45 UTC) the tick due is the second 02:00.
    second_0245 = datetime(2026, 10, 25, 1, 45, tzinfo=UTC)
    assert hourly.latest_tick(second_0245) == datetime(2026, 10, 25, 1, tzinfo=UTC)


# What an operator sees.


@db
def test_the_schedules_command_shows_the_last_tick_and_the_next(settings):
    settings.TASKQUEUE_SCHEDULES = {"hello": {"task": "greet", "every": 60}}
    schedule = parse("hello", settings.TASKQUEUE_SCHEDULES["hello"])
    now = dbtime.now()
    seen_before(schedule, schedule.latest_tick(now) - timedelta(minutes=1))
    task_id = enqueue_tick(schedule, schedule.latest_tick(now))
    Task.objects.filter(pk=task_id).update(status="DONE", result="Hello, World!")
    out = StringIO()

    call_command("schedules", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "hello: greet, every 60 s"
    assert lines[1].endswith(f"task {task_id}, DONE: 'Hello, World!'")
    assert lines[2] == f"  next tick  {schedule.next_tick(now):%Y-%m-%d %H:%M:%S} UTC"
