"""`manage.py worker`: worker processes under a parent that keeps them running and vouches for
them. `worker` runs one child, `worker --processes N` runs N.

Why a parent even for one worker: a worker cannot be trusted to say it is alive. A task that
holds the GIL starves any thread of the worker's own (stage 4's heartbeat), and a worker that
dies says nothing at all. Its parent can know both: it is another process, and the kernel tells
it at once when a child dies. So the parent, which runs no tasks:
- starts each child (`manage.py worker` with the same options) in a process group of its own,
  so that a Ctrl-C in the terminal reaches the parent alone and is passed on once, with a
  report page (report.py) on which the child writes what it runs;
- keeps the children's heartbeat (heartbeat.py): one UPDATE for all of them every half second;
- when a child dies, gives back its tasks at once (rescuer.give_back): the running one charged
  an attempt, the ones it never started not; then starts another, after a pause that grows
  while children keep dying young, so that a crash loop does not spin;
- stops a task that overran its `timeout`, or that an operator cancelled: SIGUSR2 first (the
  child stops the task and records why); if the task has not let go a second later (it holds
  the GIL), SIGKILL, and the give-back records why;
- rescues the tasks of workers gone without a parent to tell (rescuer.rescue_lost), one
  supervisor at a time;
- on SIGTERM or SIGINT passes the signal to every child and waits for them: each finishes its
  task within its grace period (stage 4). A second signal is passed on too (children stop at
  once). A child still there OVERSTAY seconds after that (its task holds the GIL, so nothing
  in it can stop the task) is killed, and its task goes back to the queue as the child would
  have sent it back. It exits with the worst exit status of its children.

Children die with their parent: each asks the kernel to SIGKILL it when its parent dies
(PR_SET_PDEATHSIG on Linux; elsewhere, a thread that watches the parent's pid). A supervisor
killed with SIGKILL leaves no orphans claiming tasks beside its replacement; what its children
held is rescued when their rows expire (the lease).

Why processes, not threads: a worker is mostly Python (deciding, decoding, calling the task),
and CPython runs Python in one thread at a time, so threads add waiting, not throughput, until
tasks spend their time in I/O. Processes use every core, and one that dies takes nobody else
with it. (The stage README measures both.)
"""

import ctypes
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from django.db import DatabaseError

from taskqueue import events, heartbeat
from taskqueue.connections import use_bounded
from taskqueue.db import connection
from taskqueue.report import CANCEL, SHUTDOWN, TIME_LIMIT, Report, Running
from taskqueue.rescuer import RESCUE_INTERVAL, give_back, rescue_lost
from taskqueue.shutdown import EXIT_FORCED, EXIT_GRACE_EXPIRED, STOP_SIGNALS, STOP_TASK

YOUNG = 5.0  # seconds: a child that dies younger than this counts towards the crash backoff
TICK = 0.05  # seconds between looks at the children
KILL_AFTER = 1.0  # seconds a stopped task has to let go before its process is killed
# Seconds a child has, past its grace period (or past a second stop signal), to write what it
# finished, give back what it holds and exit, before it is killed.
OVERSTAY = 5.0
# A change of running task reaches the heartbeat row within this many seconds: what a rescuer
# knows of a machine that vanished (rescuer.py) is at most this old.
REPORT_CHANGES = 0.1
LET_GO = 10.0  # seconds, at exit, to write what the children left while the database is away


@dataclass
class Stopping:
    """A task the parent asked a child to stop (report.TIME_LIMIT or CANCEL)."""

    task_id: int
    attempt: int
    kind: int
    since: float
    killed: bool = False


@dataclass
class Death:
    worker_id: str
    running: Running | None
    verdict: int
    how: str
    report: Report  # closed once the death is written (by the keeper, who reads reports too)


class Child:
    def __init__(self, command: list[str], lease: float):
        self.report = Report()
        # Its row, written when it starts, lives at least a lease from now (report.vouch).
        self.report.vouch(time.monotonic() + lease)
        token = secrets.token_hex(2)
        hand_over = f"--supervised={os.getpid()}:{self.report.fd}:{token}"
        self.process = subprocess.Popen(
            [*command, hand_over], start_new_session=True, pass_fds=[self.report.fd]
        )
        self.id = heartbeat.worker_id(self.process.pid, token)
        self.started = time.monotonic()
        self.stopping: Stopping | None = None
        self.overstayed = False  # killed at shutdown, past its grace period

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop_task(self, task: Running, kind: int) -> None:
        """Ask the child to stop `task`; it is killed if the task is still there KILL_AFTER
        seconds later (enforce())."""
        self.report.stop(task.task_id, kind)
        self.stopping = Stopping(task.task_id, task.attempt, kind, time.monotonic())
        self.process.send_signal(STOP_TASK)
        emit(
            "task.stopping",
            task=task.task_id,
            reason="time limit" if kind == TIME_LIMIT else "cancelled",
            worker=self.id,
        )

    def enforce(self, now: float) -> None:
        """A task past its deadline is asked to stop; one asked that has not stopped, killed."""
        task = self.report.read()
        if task is None:
            return
        asked = self.stopping
        if asked and (asked.task_id, asked.attempt) == (task.task_id, task.attempt):
            if not asked.killed and now - asked.since >= KILL_AFTER:
                asked.killed = True
                self.process.kill()
                emit("supervisor.killed", pid=self.pid, task=task.task_id, worker=self.id)
        elif task.overran(now):
            self.stop_task(task, TIME_LIMIT)

    def kill_overstayed(self, now: float) -> None:
        """Past the shutdown's grace period and still there: kill it. Its task goes back to the
        queue, its attempt counted, as the child itself sends back a task it interrupts."""
        self.overstayed = True
        task = self.report.read()
        if task is not None:
            self.stopping = Stopping(task.task_id, task.attempt, SHUTDOWN, now, killed=True)
        self.process.kill()
        emit(
            "supervisor.killed",
            pid=self.pid,
            task=task.task_id if task else "none",
            reason="past its grace period",
            worker=self.id,
        )

    def death(self, code: int) -> Death:
        running = self.report.read()  # what it was doing when it died
        asked = self.stopping
        verdict = 0
        if (
            running
            and asked
            and (asked.task_id, asked.attempt) == (running.task_id, running.attempt)
        ):
            verdict = asked.kind
        return Death(self.id, running, verdict, exit_name(code), self.report)


class Supervisor:
    def __init__(
        self,
        command: list[str],
        processes: int,
        lease: float,
        grace: float,
        burst: bool = False,
        rescue_interval: float = RESCUE_INTERVAL,
    ):
        self.command = command
        self.processes = processes
        self.lease = lease
        self.grace = grace
        self.kill_at = float("inf")  # once stopped: when children still there are killed
        # Burst children exit 0 when the queue is empty: that is the end, not a crash.
        self.burst = burst
        self.rescue_interval = rescue_interval
        self.children: list[Child | None] = []
        self.restart_at: list[float] = []  # per slot: when to start its next child; 0: never
        self.codes: list[int] = []  # per slot: how its last child exited
        self.stop_signals: list[int] = []
        self.signals_passed = 0  # of stop_signals, how many the main loop has acted on
        self.restarts = 0
        self.cancels: queue.SimpleQueue = queue.SimpleQueue()  # (task id, worker id)

    def run(self) -> int:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        self.children = [Child(self.command, self.lease) for _ in range(self.processes)]
        self.restart_at = [0.0] * self.processes
        self.codes = [0] * self.processes
        self.previous = [0] * self.processes  # per slot: the pid of its last child
        # per slot: the pause before its next restart, doubled while its children die young
        self.delays = [0.0] * self.processes
        self.keeper = Keeper(self)
        self.keeper.start()
        emit(
            "supervisor.ready",
            processes=self.processes,
            pids=",".join(str(child.pid) for child in self.children),
        )
        # Until stopped; or, stopped or in a burst, until every child is gone for good.
        while any(self.children) or any(self.restart_at) or not (self.stop_signals or self.burst):
            now = time.monotonic()
            self._pass_signals_on(now)
            for index, child in enumerate(self.children):
                if child is None:
                    if self.restart_at[index] and now >= self.restart_at[index]:
                        self._restart(index)
                    continue
                code = child.process.poll()
                if code is None and now >= self.kill_at and not child.overstayed:
                    child.kill_overstayed(now)
                elif code is None:
                    child.enforce(now)
                else:
                    self._exited(index, child, code, now)
            self._cancel_requested()
            time.sleep(TICK)
        self.keeper.finish()
        code = max((code for code in self.codes if code > 0), default=0)
        emit("supervisor.stopped", exit=code, restarts=self.restarts)
        return code

    def live(self) -> list[Child]:
        return [child for child in self.children if child is not None]

    def _on_signal(self, signum, frame) -> None:
        # Only noted here; the main loop acts on it (_pass_signals_on). A handler runs between
        # any two lines of the loop, or of another handler when two signals come close together:
        # an append is the one thing it can do that nothing half-done can undo.
        self.stop_signals.append(signum)

    def _pass_signals_on(self, now: float) -> None:
        """Act on each stop signal that arrived since the last look, in order."""
        while self.signals_passed < len(self.stop_signals):
            signum = self.stop_signals[self.signals_passed]
            self.signals_passed += 1
            self.restart_at = [0.0] * len(self.restart_at)  # nothing more starts
            if self.signals_passed == 1:
                emit("supervisor.stopping", signal=signal.Signals(signum).name)
                self.kill_at = now + self.grace + OVERSTAY
            else:  # the children stop at once now
                self.kill_at = min(self.kill_at, now + OVERSTAY)
            for child in self.live():
                if child.process.poll() is None:
                    child.process.send_signal(signum)

    def _exited(self, index: int, child: Child, code: int, now: float) -> None:
        self.keeper.deaths.put(child.death(code))
        self.children[index] = None
        if child.overstayed:  # killed: the exit status it would have had
            code = EXIT_GRACE_EXPIRED if self.signals_passed == 1 else EXIT_FORCED
        self.codes[index] = code
        self.previous[index] = child.pid
        lived = now - child.started
        ended = bool(self.stop_signals) or (self.burst and code == 0)
        delay = self.delays[index]
        if not ended:
            delay = min(max(delay * 2, 0.5), 30.0) if lived < YOUNG else 0.0
            self.delays[index] = delay
            self.restart_at[index] = now + delay
        emit(
            "supervisor.child_exited",
            pid=child.pid,
            exit=code,
            lived=round(lived, 1),
            restart_in="never" if ended else delay,
        )
        self.keeper.wake.set()  # give its tasks back now, not at the next heartbeat

    def _restart(self, index: int) -> None:
        self.restart_at[index] = 0.0
        self.children[index] = Child(self.command, self.lease)
        self.restarts += 1
        emit("supervisor.restarted", old=self.previous[index], pid=self.children[index].pid)

    def _cancel_requested(self) -> None:
        while True:
            try:
                task_id, worker_id = self.cancels.get_nowait()
            except queue.Empty:
                return
            for child in self.live():
                task = child.report.read() if child.id == worker_id else None
                # Only while it runs: one claimed but not started yet is stopped once it starts
                # (the request stays on the row, and comes back at every heartbeat).
                if not (task and task.task_id == task_id):
                    continue
                # Not asked yet for this attempt (an earlier one may have been stopped here).
                asked = child.stopping and (
                    (child.stopping.task_id, child.stopping.attempt) == (task_id, task.attempt)
                )
                if not asked:
                    child.stop_task(task, CANCEL)


class Keeper(threading.Thread):
    """The supervisor's database work, in a thread of its own, so that a slow or absent
    database never delays what the main loop does: notice deaths, stop tasks, pass signals on.
    What it cannot write now (the database is restarting) it tries again at the next beat."""

    def __init__(self, supervisor: Supervisor):
        super().__init__(name="keeper", daemon=True)
        self.supervisor = supervisor
        self.deaths: queue.SimpleQueue[Death] = queue.SimpleQueue()
        self.wake = threading.Event()
        self.finishing = threading.Event()
        self._pending: list[Death] = []
        self._next_rescue = 0.0
        self._next_beat = 0.0
        self._reported: list = []

    def run(self) -> None:
        use_bounded()  # this thread's statements wait for no lock for ever (connections.py)
        try:
            while True:
                self.wake.wait(REPORT_CHANGES)
                self.wake.clear()
                while not self.deaths.empty():
                    self._pending.append(self.deaths.get())
                try:
                    self._round()
                except Exception as error:  # noqa: BLE001 (this thread must outlive anything)
                    # The database restarts or is unreachable (or its driver fails in a way
                    # of its own): try again at the next tick; what is pending stays pending.
                    kind = "db_error" if isinstance(error, DatabaseError) else "error"
                    emit(f"supervisor.{kind}", error=str(error).strip() or repr(error))
                    connection.close()
                    self.wake.wait(0.5)
                if self.finishing.is_set() and not self._pending:
                    return
        finally:
            connection.close()

    def _round(self) -> None:
        supervisor = self.supervisor
        # The beat first: a death that cannot be written now (its task's row locked by an
        # operator's open transaction) must not keep the live children's rows from beating.
        self._beat()
        for death in list(self._pending):
            try:
                self._write(death)
            except DatabaseError as error:  # tried again at the next round
                emit("supervisor.db_error", error=str(error).strip(), worker=death.worker_id)
                connection.close()
                continue
            self._pending.remove(death)
            death.report.close()
        now = time.monotonic()
        if now >= self._next_rescue and not self.finishing.is_set():
            self._next_rescue = now + supervisor.rescue_interval
            rescue_lost()

    def _write(self, death: Death) -> None:
        """Give back what a dead child held, then write its end."""
        task = death.running
        why = f"worker {death.worker_id} died ({death.how}) while running it"
        if death.verdict == SHUTDOWN:
            why = f"worker {death.worker_id} was killed, still running it past its grace period"
        give_back(
            death.worker_id,
            task.task_id if task else None,
            why,
            attempt=task.attempt if task else None,
            verdict=death.verdict,
        )
        heartbeat.stopped(death.worker_id, death.how)

    def _beat(self) -> None:
        supervisor = self.supervisor
        now = time.monotonic()
        running = [(child.id, child.report.read()) for child in supervisor.live()]
        # Every half second; sooner when what the children run has changed.
        tasks = [(worker, task.task_id if task else 0) for worker, task in running]
        if now >= self._next_beat or tasks != self._reported:
            self._next_beat = now + heartbeat.every(supervisor.lease)
            self._reported = tasks
            for cancel in heartbeat.beat(running, supervisor.lease, now):
                supervisor.cancels.put(cancel)
            # Sent at `now`: their rows live until at least a lease later (report.vouch).
            for child in supervisor.live():
                child.report.vouch(now + supervisor.lease)

    def finish(self) -> None:
        """Write what the children left, then stop: at most LET_GO seconds if the database is
        away (then the rescuer elsewhere will, when the rows expire)."""
        self.finishing.set()
        self.wake.set()
        self.join(LET_GO)


def emit(event: str, **fields) -> None:
    """An event of the supervisor's, which names it as a worker's events name the worker."""
    events.emit(event, **fields, supervisor=os.getpid())


def exit_name(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit {code}"


def worker_command(options: list[str]) -> list[str]:
    """The command line of one child: this same manage.py, `worker`, the given options."""
    return [sys.executable, sys.argv[0], "worker", *options]


PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """In a child: be killed when the parent dies, whatever the child is doing at that moment
    (a task that holds the GIL included: the kernel does it, no Python needs to run)."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    else:  # no such call: a thread watches for the parent's end
        threading.Thread(target=_watch_parent, args=[parent_pid], daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before we asked
        os.kill(os.getpid(), signal.SIGKILL)


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.2)
    os.kill(os.getpid(), signal.SIGKILL)
