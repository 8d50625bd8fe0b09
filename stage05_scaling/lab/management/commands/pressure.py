"""`python manage.py pressure` (`make pressure`): stage 5 under what slows a PostgreSQL queue in
production. A producer enqueues 1 ms tasks at a fixed rate, one at a time through the project's
own enqueue(); 2 worker processes (one supervisor) run them. After `--warm-up` seconds, the
run goes through phases of `--phase` seconds each:

- clean: nothing else happens;
- held xid: a session opens a transaction, takes an xid and sits idle in it (`idle in
  transaction`): vacuum can remove nothing that dies from then on (`--held` seconds);
- readers: 4 REPEATABLE READ sessions scan the task table again and again on one snapshot each,
  as analytics on the live database do: the same hold on the horizon, and reads beside;
- kills: every 2 s, pg_terminate_backend() on every connection of the workers;
- lock: a session holds ACCESS EXCLUSIVE on the task table for 10 s (a migration, say);
- recovery: nothing again.

Every `--sample` seconds it writes a row: tasks offered and finished per second, the queue's
depth, the pickup (due to started) p50 and p99 of the tasks finished in the window, the dead
row versions in the table, its size and its indexes', how long the oldest transaction has held
the horizon, and the claim's work: the buffers one claim reads (EXPLAIN ANALYZE of its scan,
sql.CLAIM_SCAN), and what it would read from the claim index's first entry. Then a summary
per phase, beside the clean phase, and two checks that fail the command: no task lost, none
left unfinished once the producer has stopped.

The numbers are printed, not judged: what they should be is in the stage 5 README, section 14.
"""

import csv
import json
import os
import statistics
import threading
import time
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections, transaction

from taskqueue import sql
from taskqueue.enqueue import enqueue
from taskqueue.models import Task
from taskqueue.stats import pressure
from workshop.demo import console, print_table, running
from workshop.measurements import text_table

TASK = "taskqueue.tasks.pretend_work"
LAB = "pressure lab"  # the application_name of the lab's own sessions: never killed
PHASES = ["clean", "held xid", "readers", "kills", "lock", "recovery"]
READERS, KILL_EVERY, LOCK_SECONDS = 4, 2.0, 10.0

# What one claim reads to find a batch: the claim's scan (sql.CLAIM_SCAN, from each level's
# head), read-only here; and what it would read from the index's first entry, as it did before
# the heads (step 16).
CLAIM_SCAN = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql.CLAIM_SCAN.replace(
    "FOR UPDATE SKIP LOCKED", ""
)
FROM_THE_START = """
EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
SELECT id FROM taskqueue_task
WHERE status = 'QUEUED' AND queue_name = 'default' AND run_after <= now()
ORDER BY priority DESC, run_after, id
LIMIT 100
"""
# Of the tasks that finished in the window: how many, and their pickup (due to started).
WINDOW = """
SELECT count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY pickup),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY pickup)
FROM (
    SELECT extract(epoch FROM started_at - run_after) * 1000 AS pickup FROM taskqueue_task
    WHERE status IN ('DONE', 'CANCELLED') AND finished_at >= %s AND finished_at < %s
) AS finished
"""
TABLE = """
SELECT (SELECT count(*) FROM taskqueue_task WHERE status = 'QUEUED'),
       n_dead_tup, pg_table_size(relid), pg_indexes_size(relid)
FROM pg_stat_user_tables WHERE relname = 'taskqueue_task'
"""
# The workers' sessions: every client session of this database but the lab's own.
KILL_WORKERS = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend'
  AND application_name <> %s AND pid <> pg_backend_pid()
"""
LEGEND = """kept: tasks finished / offered; p99: the median of the phase's pickup p99s, ms;
reads: the median buffers one claim reads; x: times the clean phase's; start: what it would read
from the index's first entry (before step 16's heads); dead: dead row versions in the table at
most; held: how long the oldest transaction had held the horizon at most, s"""
DRAIN_SECONDS = 120  # after the producer stops: time enough for any backlog here


class Producer(threading.Thread):
    """Enqueues one task every 1/rate seconds, on time or catching up."""

    def __init__(self, rate: float, stop: threading.Event):
        super().__init__(name="producer", daemon=True)
        self.rate, self.stop = rate, stop
        self.offered = 0

    def run(self) -> None:
        start = time.monotonic()
        while not self.stop.is_set():
            due = start + self.offered / self.rate
            if (ahead := due - time.monotonic()) > 0:
                time.sleep(ahead)
            enqueue(TASK, {"ms": 1})
            self.offered += 1
        connection.close()


def in_a_thread(target, *args) -> threading.Thread:
    """Run `target` in a thread with its own connection, closed when it returns."""

    def run():
        try:
            target(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def hold_an_xid(until: threading.Event) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT txid_current()")
        until.wait()


def read_on_one_snapshot(until: threading.Event) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        while not until.is_set():
            cursor.execute("SELECT count(*), max(created_at), sum(attempts) FROM taskqueue_task")
            until.wait(0.5)


def kill_the_workers_sessions(until: threading.Event) -> None:
    while not until.wait(KILL_EVERY):
        with connection.cursor() as cursor:
            cursor.execute(KILL_WORKERS, [LAB])


def lock_the_table(until: threading.Event) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE taskqueue_task IN ACCESS EXCLUSIVE MODE")
        until.wait(LOCK_SECONDS)


class Phase:
    """What a phase starts, and stops when it ends."""

    def __init__(self, name: str):
        self.name = name
        self.until = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        if self.name == "held xid":
            self.threads = [in_a_thread(hold_an_xid, self.until)]
        elif self.name == "readers":
            self.threads = [in_a_thread(read_on_one_snapshot, self.until) for _ in range(READERS)]
        elif self.name == "kills":
            self.threads = [in_a_thread(kill_the_workers_sessions, self.until)]
        elif self.name == "lock":
            self.threads = [in_a_thread(lock_the_table, self.until)]

    def stop(self) -> None:
        self.until.set()
        for thread in self.threads:
            thread.join(timeout=30)


def claim_buffers(scan: str = CLAIM_SCAN) -> int:
    with connection.cursor() as cursor:
        cursor.execute(scan, {"queue": "default", "worker": LAB, "batch_size": 100})
        (plan,) = cursor.fetchone()
    top = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    return top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)


def sample(phase: str, since: datetime, offered: int, elapsed: float) -> dict:
    """One row: the window from `since` to now."""
    now = datetime.now().astimezone()
    seconds = (now - since).total_seconds()
    with connection.cursor() as cursor:
        cursor.execute(WINDOW, [since, now])
        finished, p50, p99 = cursor.fetchone()
        cursor.execute(TABLE)
        depth, dead, table, indexes = cursor.fetchone()
    horizon = pressure()["horizon"]["oldest_transaction_seconds"]
    return {
        "t": round(elapsed),
        "phase": phase,
        "offered/s": round(offered / seconds),
        "done/s": round(finished / seconds),
        "depth": depth,
        "pickup p50 ms": round(p50 or 0, 1),
        "pickup p99 ms": round(p99 or 0, 1),
        "dead rows": dead,
        "table MB": round(table / 2**20, 1),
        "index MB": round(indexes / 2**20, 1),
        "horizon s": round(horizon or 0),
        "claim buffers": claim_buffers(),
        "from start": claim_buffers(FROM_THE_START),
        "_at": now,
    }


def by_phase(rows: list[dict]) -> list[list]:
    """Per phase: finished/offered, median p99, median claim buffers, and each beside clean."""
    summary, clean = [], {}
    for phase in PHASES:
        mine = [row for row in rows if row["phase"] == phase]
        if not mine:
            continue
        offered = sum(row["offered/s"] for row in mine)
        done = sum(row["done/s"] for row in mine)
        p99 = statistics.median(row["pickup p99 ms"] for row in mine)
        work = round(statistics.median(row["claim buffers"] for row in mine))
        start = round(statistics.median(row["from start"] for row in mine))
        clean = clean or {"p99": p99 or 1, "work": work or 1}
        summary.append([
            phase, f"{done / offered:.2f}" if offered else "-", f"{p99:.1f}",
            f"{p99 / clean['p99']:.1f}x", work, f"{work / clean['work']:.1f}x", start,
            max(row["dead rows"] for row in mine), max(row["horizon s"] for row in mine),
        ])  # fmt: skip
    return summary


class Command(BaseCommand):
    help = "A fixed enqueue rate through a held horizon, analytics readers, kills and a lock."

    def add_arguments(self, parser):
        parser.add_argument("--rate", type=float, default=600, help="tasks per second")
        parser.add_argument("--phase", type=float, default=60, help="seconds per phase")
        parser.add_argument("--held", type=float, help="seconds of the held xid (--phase)")
        parser.add_argument("--sample", type=float, default=5, help="seconds per row")
        parser.add_argument(
            "--warm-up", type=float, default=30, help="seconds of load before the clean phase"
        )
        parser.add_argument("--processes", type=int, default=2)
        parser.add_argument(
            "--save", metavar="FILE", help="also write the summary to FILE, the samples to .csv"
        )
        parser.add_argument("--plot", metavar="FILE", help="and draw them in FILE (.svg, .png)")

    def handle(self, **options):
        # The lab's sessions say who they are: the kills pass them over.
        settings_options = connections.settings[connection.alias]["OPTIONS"]
        before = dict(settings_options)
        settings_options["application_name"] = LAB
        connection.close()
        try:
            self.measure(**options)
        finally:
            settings_options.clear()
            settings_options.update(before)
            connection.close()

    def measure(self, *, rate, phase, held, sample: float, warm_up, processes, **options):
        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            # From an empty table without a dead row (a DELETE would leave one per task).
            cursor.execute("TRUNCATE taskqueue_task")
            cursor.execute("ANALYZE taskqueue_task")
            cursor.execute("SELECT current_setting('autovacuum')")
            (autovacuum,) = cursor.fetchone()
        lengths = {name: phase for name in PHASES} | {"held xid": held or phase}
        setup = (
            f"{rate:g} tasks/s of 1 ms, {processes} worker processes; {warm_up:g} s to warm up,"
            f" then phases of {phase:g} s (the held xid {lengths['held xid']:g} s)"
        )
        if autovacuum == "off":
            setup += "; autovacuum is OFF on this server: nothing removes dead rows"
        console.print(f"{setup}: {', '.join(PHASES)}. A row every {sample:g} s.")
        worker_args = ["--processes", str(processes), "-v", "1"]
        env = {"TASKQUEUE_SCHEDULES": "{}"}  # no hourly hello in the middle of the count
        rows: list[dict] = []
        stop = threading.Event()
        with running(settings.BASE_DIR, worker_args, ready_lines=processes + 1, env=env):
            producer = Producer(rate, stop)
            producer.start()
            # The clean phase is the yardstick: measured once the workers' batches have found
            # their size and autovacuum has seen the table, not from a cold start.
            time.sleep(warm_up)
            started = since = datetime.now().astimezone()
            offered = producer.offered
            for name in PHASES:
                current = Phase(name)
                current.start()
                ends = time.monotonic() + lengths[name]
                while (left := ends - time.monotonic()) > 0:
                    time.sleep(min(sample, left))
                    count = producer.offered
                    rows.append(self.sample(name, since, count - offered, started))
                    since, offered = rows[-1]["_at"], count
                current.stop()
            stop.set()
            producer.join(timeout=30)
            drained = time.monotonic() + DRAIN_SECONDS
            while Task.objects.exclude(status="DONE").exists() and time.monotonic() < drained:
                time.sleep(0.5)
        lost = producer.offered - Task.objects.filter(name=TASK).count()
        unfinished = Task.objects.exclude(status="DONE").count()
        self.report(rows, producer.offered, lost, unfinished, setup, options)
        if lost or unfinished:
            raise CommandError("tasks were lost or left unfinished: see the table above")

    def sample(self, phase: str, since: datetime, offered: int, started: datetime) -> dict:
        elapsed = (datetime.now().astimezone() - started).total_seconds()
        row = sample(phase, since, offered, elapsed)
        console.print(" ".join(f"{key}={value}" for key, value in row.items() if key != "_at"))
        return row

    def report(self, rows, offered, lost, unfinished, setup, options) -> None:
        columns = [key for key in rows[0] if key != "_at"]  # every sample: printed as it came
        table = [[row[key] for key in columns] for row in rows]
        phases = [
            "phase", "kept", "p99", "p99 x", "reads", "reads x", "start", "dead", "held"
        ]  # fmt: skip
        summary = by_phase(rows)
        print_table("Pressure: each phase beside the clean one", phases, summary)
        console.print(LEGEND)
        checks = [
            ["tasks enqueued", offered],
            ["tasks lost", lost],
            [f"tasks not DONE {DRAIN_SECONDS} s after the last enqueue", unfinished],
        ]
        print_table("Pressure: what must hold", ["", "value"], checks)
        if options["save"]:
            save(options["save"], setup, columns, table, phases, summary, checks)
        if options["plot"]:
            plot(options["plot"], rows)


def save(path: str, setup: str, columns, table, phases, summary, checks) -> None:
    """The summary in `path` (what the README quotes), every sample beside it in `.csv`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version')")
        version = cursor.fetchone()[0].split()[0]
    lines = [
        f"`make pressure`, {datetime.now():%Y-%m-%d}; {os.cpu_count()} cores, PostgreSQL {version}",
        setup,
        "",
        *text_table(phases, summary),
        LEGEND,
        "",
        *(f"{name}: {value}" for name, value in checks),
    ]
    Path(path).write_text("\n".join(lines) + "\n")
    with Path(path).with_suffix(".csv").open("w", newline="") as samples:
        writer = csv.writer(samples)
        writer.writerow(columns)
        writer.writerows(table)


def plot(path: str, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    matplotlib.rcParams["svg.hashsalt"] = "pressure"  # the same drawing, the same file
    t = [row["t"] for row in rows]
    panels = [
        ("done/s", "tasks finished per s"),
        ("pickup p99 ms", "pickup p99, ms"),
        ("claim buffers", "buffers one claim reads"),
        ("dead rows", "dead row versions"),
    ]
    figure, axes = pyplot.subplots(len(panels), 1, figsize=(8, 9), sharex=True)
    for axis, (key, label) in zip(axes, panels, strict=True):
        axis.plot(t, [row[key] for row in rows], marker=".", label="from the head")
        axis.set_ylabel(label)
        if key == "claim buffers":  # beside it, the claim from the index's first entry
            axis.plot(t, [row["from start"] for row in rows], marker=".", label="from the start")
            axis.set_yscale("log")
            axis.legend(loc="upper left")
        for name in PHASES:
            times = [row["t"] for row in rows if row["phase"] == name]
            if times and name != "clean":
                axis.axvline(min(times), color="grey", linewidth=0.5)
                if axis is axes[0]:
                    axis.annotate(name, (min(times), 1.02), xycoords=("data", "axes fraction"))
    axes[-1].set_xlabel("seconds")
    figure.tight_layout()
    figure.savefig(path, metadata={"Date": None} if path.endswith(".svg") else None)
