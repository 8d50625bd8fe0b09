"""One structured log line per thing that happens to a task or a worker.

    ts=2026-11-27T10:15:03.120Z level=info event=task.retry task=42 name=fetch attempt=2 ...

logfmt: `key=value` pairs, quoted when a value has spaces. A person reads it; Loki, Vector,
Datadog and friends parse it without configuration. Events: worker.ready, claim, task.start,
task.done, task.retry, task.failed, task.dead, task.cancelled, task.released,
task.result_dropped, worker.stopping, worker.stopped, worker.db_error; the supervisor's
(supervisor.py, with `supervisor=<pid>`): supervisor.ready, supervisor.child_exited,
supervisor.restarted, supervisor.killed, supervisor.stopping, supervisor.stopped, task.stopping,
tasks.given_back, worker.lost; and the schedules' (schedules.py): schedule.enqueued,
schedule.skipped, schedule.missed, schedule.taken.
"""

import logging
from datetime import UTC, datetime

logger = logging.getLogger("taskqueue.events")

LEVELS = {
    # Stage 5: one line per task is too many at thousands a second; `worker -v 2` shows them.
    "task.start": logging.DEBUG,
    "task.done": logging.DEBUG,
    "schedule.taken": logging.DEBUG,  # a tick another worker took (enqueued or skipped)
    "task.retry": logging.WARNING,
    "task.failed": logging.ERROR,
    "task.dead": logging.ERROR,
    "worker.lost": logging.WARNING,
    "supervisor.killed": logging.WARNING,
    "schedule.missed": logging.WARNING,
}


def quote(value) -> str:
    text = str(value)
    if text == "" or any(char in text for char in ' "=\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def emit(event: str, **fields) -> None:
    level = LEVELS.get(event, logging.INFO)
    if not logger.isEnabledFor(level):
        return
    ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    pairs = {"ts": ts, "level": logging.getLevelName(level).lower(), "event": event, **fields}
    logger.log(level, " ".join(f"{key}={quote(value)}" for key, value in pairs.items()))
