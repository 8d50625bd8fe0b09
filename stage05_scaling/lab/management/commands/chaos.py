"""`python manage.py chaos` (`make chaos`): stage 5 under fire. 10,000 idempotent tasks, 4
worker processes under one supervisor, a random worker killed with SIGKILL every 2 seconds for
60 seconds, and the database restarted once half-way. A third of the way in, the task table is
locked for a moment and a worker killed while its statements wait for the lock; and beside the
e-mails run coroutine tasks that overrun their time limit, each noting its attempts' starts
and ends in a file. Then it counts what a queue must never do: lose a task, leave one
unfinished, repeat a side effect, leave a task held by a worker that is gone, or run two
attempts of one task at once.

Checks (the command fails if one does not hold):
- lost: enqueued tasks missing from the table                            must be 0
- unfinished: tasks not DONE, FAILED or DEAD once the queue has drained  must be 0
- charged, never started: attempts counted beyond the runs that began    must be 0
- duplicate executions: runs beyond the first, over all tasks            at most kills x batch
- duplicate side effects: e-mails recorded twice (UNIQUE key)            must be 0
- missing side effects: DONE tasks without their e-mail                  must be 0
- held past the bound: tasks IN_PROGRESS for a worker ended or silent
  longer than lease + rescue interval + statement timeout (sampled)      must be 0
- overlapping attempts: an attempt of a coroutine task still running
  when the next one began                                                must be 0

It also measures how long each killed worker's task waited to run again: the supervisor gives
it back the moment the child dies, so the wait is a worker's restart, not a lease.
"""

import contextlib
import os
import random
import re
import signal
import statistics
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Count

from taskqueue.enqueue import enqueue, enqueue_many
from taskqueue.models import SentEmail, Task
from workshop import embedded
from workshop.demo import console, print_table, running
from workshop.processes import wait_until

TASK = "taskqueue.tasks.send_welcome_email"
ASYNC_TASK = "taskqueue.tasks.slow_async_call"  # a coroutine, 1 s time limit, 2 attempts
FINISHED = [Task.Status.DONE, Task.Status.FAILED, Task.Status.DEAD]
LEASE, RESCUE_INTERVAL, STATEMENT_TIMEOUT = 2.0, 0.5, 5.0  # the workers' settings here
# A task held by a worker that ended (or fell silent) this long ago is held past the bound:
# the lease, what a statement in flight at the worker's end can add, and the rescuer's look.
BOUND = LEASE + RESCUE_INTERVAL + STATEMENT_TIMEOUT
WAITING_FOR_A_LOCK = """
SELECT count(*) FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND query LIKE '%%taskqueue_task%%'
"""
HELD_PAST_THE_BOUND = """
SELECT count(*) FROM taskqueue_task AS task
LEFT JOIN taskqueue_workerprocess AS process ON process.id = task.worker
WHERE task.status = 'IN_PROGRESS'
  AND (process.id IS NULL
       OR process.stopped_at < now() - make_interval(secs => %(bound)s)
       OR process.expires_at < now() - make_interval(secs => %(bound)s))
"""


class Children:
    """The supervisor's current child pids, followed through its log lines."""

    def __init__(self, supervisor):
        self.supervisor = supervisor
        self.read = 0
        self.pids: set[int] = set()

    def current(self) -> set[int]:
        for line in self.supervisor.lines[self.read :]:
            if match := re.search(r"event=supervisor.ready .*pids=([\d,]+)", line):
                self.pids = {int(pid) for pid in match.group(1).split(",")}
            elif match := re.search(r"event=supervisor.child_exited pid=(\d+)", line):
                self.pids.discard(int(match.group(1)))
            elif match := re.search(r"event=supervisor.restarted old=\d+ pid=(\d+)", line):
                self.pids.add(int(match.group(1)))
        self.read = len(self.supervisor.lines)
        return self.pids


def kill_one(children: Children, rng: random.Random) -> tuple[int, float]:
    """SIGKILL one live worker; if none is alive right now (all being restarted), wait. Return
    its pid and the time of the kill."""
    victim = []

    def killed() -> bool:
        if pids := children.current():
            pid = rng.choice(sorted(pids))
            with contextlib.suppress(ProcessLookupError):  # it died a moment ago: pick again
                os.kill(pid, signal.SIGKILL)
                victim.append((pid, time.time()))
                return True
        return False

    wait_until(killed, timeout=60, what="a live worker to kill")
    return victim[0]


def timestamp(line: str) -> float:
    return datetime.fromisoformat(re.search(r"ts=(\S+)", line).group(1)).timestamp()


def back_after_kills(output: str, kills: list[tuple[int, float]]) -> list[float]:
    """For each kill of a worker that was running a task: seconds until that task started
    again, read from the log (given back by the supervisor, then a task.start)."""
    lines = output.splitlines()
    waits = []
    for pid, killed_at in kills:
        given = rf"event=tasks.given_back worker=\S+:{pid}:\S+ running=(\d+)"
        task = next((m.group(1) for line in lines if (m := re.search(given, line))), None)
        if task is None:
            continue  # it was between tasks
        start = re.compile(rf"event=task.start task={task} ")
        again = [timestamp(line) for line in lines if start.search(line)]
        later = [at for at in again if at > killed_at]
        if later:
            waits.append(min(later) - killed_at)
    return waits


def finished() -> int:
    return ours().filter(status__in=FINISHED).count()


def over() -> int:
    """Coroutine tasks that have ended."""
    return theirs().filter(status__in=FINISHED).count()


def ours():
    """The run's own e-mail tasks (a schedule's tick, say, is not one of them)."""
    return Task.objects.filter(name=TASK)


def theirs():
    """The run's coroutine tasks."""
    return Task.objects.filter(name=ASYNC_TASK)


def held_past_the_bound() -> int:
    with connection.cursor() as cursor:
        cursor.execute(HELD_PAST_THE_BOUND, {"bound": BOUND})
        return cursor.fetchone()[0]


def waiting_for_the_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(WAITING_FOR_A_LOCK)
        return cursor.fetchone()[0] > 0


def lock_the_table_for(seconds: float, locked: threading.Event) -> None:
    """In a thread: what a migration or an operator's LOCK TABLE does to the queue."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("LOCK TABLE taskqueue_task IN EXCLUSIVE MODE")
            locked.set()
            time.sleep(seconds)
    finally:
        connection.close()


def overlapping_attempts(folder: Path) -> int:
    """Attempts of one coroutine task that were still running when a later attempt began,
    read from the files the tasks note their attempts in (`start N pid`, `end N pid`, in the
    order they happened): an `end N` after a `start M` with M > N. (An attempt killed with
    its worker has no end: its worker was dead before the task went back.)"""
    overlaps = 0
    for log in folder.glob("*.log"):
        latest = 0  # the latest attempt that has started
        for line in log.read_text().splitlines():
            event, attempt, _pid = line.split()
            if event == "start":
                latest = max(latest, int(attempt))
            elif int(attempt) < latest:
                overlaps += 1
    return overlaps


class Command(BaseCommand):
    help = "Kill workers and restart the database under load; check that nothing is lost."

    def add_arguments(self, parser):
        parser.add_argument("--tasks", type=int, default=10_000)
        parser.add_argument("--processes", type=int, default=4)
        parser.add_argument("--kill-every", type=float, default=2.0, help="seconds")
        parser.add_argument("--duration", type=float, default=60.0, help="seconds of killing")
        parser.add_argument("--task-ms", type=int, default=20, help="how long each task works")
        parser.add_argument("--batch-size", type=int, default=10)
        parser.add_argument(
            "--async-tasks", type=int, default=20, help="coroutine tasks past their time limit"
        )
        parser.add_argument(
            "--no-db-restart", action="store_true", help="do not restart the database"
        )
        parser.add_argument("--seed", type=int, help="for a repeatable choice of victims")
        parser.add_argument(
            "--save", metavar="FILE", help="also write both tables to FILE, as plain text"
        )

    def handle(self, *, tasks, processes, kill_every, duration, task_ms, batch_size, **options):
        rng = random.Random(options["seed"])
        restart_db = not options["no_db_restart"]
        if restart_db and os.environ.get("DATABASE_URL"):
            console.print("DATABASE_URL is set: not restarting someone else's server.")
            restart_db = False
        call_command("migrate", verbosity=0)
        Task.objects.all().delete()
        SentEmail.objects.all().delete()
        console.print(
            f"{tasks:,} welcome e-mails of {task_ms} ms each, {processes} worker processes"
            f" (batch {batch_size}, lease 2 s). A random worker is killed with SIGKILL every"
            f" {kill_every:g} s for {duration:g} s"
            + (", and the database restarted once half-way." if restart_db else ".")
            + f" Beside them, {options['async_tasks']} coroutine tasks past their time limit."
        )
        worker_args = [
            "--processes", str(processes), "--batch-size", str(batch_size), "--lease", str(LEASE),
            "--rescue-interval", str(RESCUE_INTERVAL), "--poll-interval", "0.5", "-v", "2",
        ]  # fmt: skip
        kills = 0
        victims = []
        env = {
            "TASKQUEUE_SCHEDULES": "{}",  # no hourly hello in the middle of the count
            "TASKQUEUE_STATEMENT_TIMEOUT": str(STATEMENT_TIMEOUT),
        }
        attempts_folder = Path(tempfile.mkdtemp(prefix="chaos-attempts-"))
        held = []  # samples: tasks held past the bound
        workers = running(settings.BASE_DIR, worker_args, ready_lines=processes + 1, env=env)
        with workers as (supervisor,):
            children = Children(supervisor)
            # Its @task gives it its queue ("emails") and 20 attempts.
            enqueue_many(TASK, [{"user_id": n, "ms": task_ms} for n in range(tasks)])
            for n in range(options["async_tasks"]):
                enqueue(ASYNC_TASK, {"ms": 3000, "log": str(attempts_folder / f"{n}.log")})
            started = time.monotonic()
            restarted = blocked = False
            rounds = round(duration / kill_every)  # one kill per round, however slow a round
            for number in range(1, rounds + 1):
                time.sleep(kill_every)
                if not blocked and number >= rounds / 3:
                    victims.append(self.kill_while_blocked(children, rng))
                    blocked = True
                else:
                    victims.append(kill_one(children, rng))
                kills += 1
                held.append(held_past_the_bound())
                elapsed = time.monotonic() - started
                if restart_db and not restarted and number >= rounds / 2:
                    console.print(f"{elapsed:5.1f} s: restarting the database")
                    connection.close()
                    embedded.restart()
                    restarted = True
                console.print(f"{elapsed:5.1f} s: {kills} kills, {finished():,} tasks finished")
            last_kill = time.monotonic()
            connection.close()
            every = tasks + options["async_tasks"]
            wait_until(lambda: finished() + over() >= every, timeout=600, what="the queue to drain")
            held.append(held_past_the_bound())
            drain = time.monotonic() - last_kill
            restarts = len(re.findall(r"event=supervisor.restarted", supervisor.output))
            # Workers that lost the database (their loop or their LISTEN connection) and went on.
            cut_off = r"event=(?:worker\.db_error|listener\.error) .*worker=(\S+)"
            db_errors = len(set(re.findall(cut_off, supervisor.output)))
            # Runs that began, per task, from the log (-v 2 prints each start).
            starts = Counter(re.findall(r"event=task.start task=(\d+) ", supervisor.output))
            waits = back_after_kills(supervisor.output, victims)
        overlaps = overlapping_attempts(attempts_folder)
        more = [
            ["tasks IN_PROGRESS past the bound", max(held), "0", max(held) == 0],
            ["overlapping attempts of one task", overlaps, "0", overlaps == 0],
        ]
        checks, happened = self.report(
            tasks, kills, restarts, db_errors, batch_size, drain, restarted, starts, waits, more
        )
        if options["save"]:
            setup = (
                f"{tasks:,} tasks of {task_ms} ms, {processes} worker processes (batch"
                f" {batch_size}, lease 2 s); a SIGKILL every {kill_every:g} s for {duration:g} s"
                + ("; the database restarted once" if restarted else "")
            )
            save(options["save"], setup, checks, happened)
        if not all(ok for *_, ok in checks):
            raise CommandError("a chaos check failed: see the table above")
        console.print("Nothing lost, nothing unfinished, no side effect twice.")

    def kill_while_blocked(self, children: Children, rng: random.Random) -> tuple[int, float]:
        """Lock the task table for a moment, as a migration would, and kill a worker while
        its statements wait for the lock: what they claim commits after its give-back."""
        locked = threading.Event()
        holder = threading.Thread(target=lock_the_table_for, args=[2.0, locked], daemon=True)
        holder.start()
        locked.wait(10)
        wait_until(waiting_for_the_lock, timeout=2, what="a worker waiting for the lock")
        victim = kill_one(children, rng)
        holder.join()
        return victim

    def report(
        self, tasks, kills, restarts, db_errors, batch_size, drain, restarted, starts, waits, more
    ):
        counts = dict(ours().values_list("status").annotate(n=Count("id")))
        present = sum(counts.values())
        reruns = sum(count - 1 for count in starts.values())
        attempts = dict(ours().values_list("id", "attempts"))
        charged_unstarted = sum(
            max(0, count - starts.get(str(task_id), 0)) for task_id, count in attempts.items()
        )
        emails = SentEmail.objects.count()
        distinct = SentEmail.objects.values("key").distinct().count()
        done = ours().filter(status="DONE").values_list("kwargs", flat=True)
        done_keys = {f"welcome:{kwargs['user_id']}" for kwargs in done}
        missing = len(done_keys - set(SentEmail.objects.values_list("key", flat=True)))
        unfinished = present - sum(counts.get(status, 0) for status in FINISHED)
        already = ours().filter(result="already sent").count()
        bound = kills * batch_size
        checks = [
            ["tasks lost", tasks - present, "0", tasks == present],
            ["tasks not DONE, FAILED or DEAD", unfinished, "0", unfinished == 0],
            ["attempts charged to tasks that never started", charged_unstarted, "0",
             charged_unstarted == 0],
            ["duplicate executions (runs beyond the first)", reruns, f"<= {bound}",
             reruns <= bound],
            ["duplicate side effects (e-mails sent twice)", emails - distinct, "0",
             emails == distinct],
            ["missing side effects (DONE, no e-mail)", missing, "0", missing == 0],
            *more,
        ]  # fmt: skip
        print_table(
            "Chaos: what must hold",
            ["check", "measured", "must be", "ok"],
            [[name, value, limit, "yes" if ok else "NO"] for name, value, limit, ok in checks],
        )
        happened = [
                ["workers killed with SIGKILL", kills],
                ["workers restarted by the supervisor", restarts],
                ["database restarted", "yes" if restarted else "no"],
                ["workers that lost the database and reconnected", db_errors],
                ["tasks DONE", counts.get("DONE", 0)],
                ["tasks DEAD", counts.get("DEAD", 0)],
                ["re-runs that found the e-mail already sent", already],
                ["runs that began (task.start lines)", f"{sum(starts.values()):,}"],
                ["kills that interrupted a task", len(waits)],
                ["kill to that task running again, median s", seconds(statistics.median, waits)],
                ["kill to that task running again, max s", seconds(max, waits)],
                ["drained after the last kill, s", f"{drain:.1f}"],
        ]  # fmt: skip
        print_table("Chaos: what happened", ["", "value"], happened)
        return checks, happened


def save(path: str, setup: str, checks: list, happened: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version')")
        version = cursor.fetchone()[0].split()[0]
    width = max(len(row[0]) for row in [*checks, *happened])
    lines = [
        f"`make chaos`, {datetime.now():%Y-%m-%d}; {os.cpu_count()} cores, PostgreSQL {version}",
        setup,
        "",
        f"{'check':<{width}}  {'measured':>8}  must be",
        *(f"{name:<{width}}  {value!s:>8}  {limit}" for name, value, limit, _ in checks),
        "",
        *(f"{name:<{width}}  {value!s:>8}" for name, value in happened),
    ]
    Path(path).write_text("\n".join(lines) + "\n")


def seconds(summary, values: list[float]) -> str:
    return f"{summary(values):.2f}" if values else "-"
