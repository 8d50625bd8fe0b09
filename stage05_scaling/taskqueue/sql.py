"""Every statement stage 5 sends that the ORM does not write, by name, in one place.

The code imports them from here (`sql.CLAIM`), and so does the benchmark (`make bench` runs
COMPLETE_AND_CLAIM under pgbench): what is measured is what runs. The trigger that wakes idle
workers is here too, beside the statements it serves. `%(name)s` and `%s` are psycopg's
placeholders; every value is passed as a parameter, never formatted into the text.
"""

# ---- Claiming (claim.py) -------------------------------------------------------------------------

# The SKIP LOCKED claim in one statement, whatever the batch size: the CTE picks and locks the
# rows, the UPDATE around it marks them, RETURNING sends them back.
CLAIM = """
WITH next AS (
    SELECT id FROM taskqueue_task
    WHERE status = 'QUEUED' AND queue_name = %(queue)s AND run_after <= now()
    ORDER BY priority DESC, run_after, id
    LIMIT %(batch_size)s
    FOR UPDATE SKIP LOCKED
)
UPDATE taskqueue_task AS task
SET status = 'IN_PROGRESS',
    started_at = now(),
    attempts = task.attempts + 1,
    worker = %(worker)s::text,
    worker_ids = task.worker_ids || to_jsonb(%(worker)s::text)
FROM next
WHERE task.id = next.id
RETURNING task.id, task.name, task.args, task.kwargs, task.attempts, task.max_attempts,
          task.queue_name, task.priority, task.created_at, task.started_at
"""
# Several queues: the highest priority due task of any of them first, then the oldest, so no
# queue waits behind another's name. The index `task_claimable` is ordered within one queue,
# so each queue's best candidates come from an index scan of their own (LATERAL), and the
# batch is the best of those. SKIP LOCKED inside: a row another worker holds is passed over.
CLAIM_FROM_QUEUES = """
WITH next AS (
    SELECT candidate.id
    FROM unnest(%(queues)s::text[]) AS served(queue_name)
    CROSS JOIN LATERAL (
        SELECT id, priority, run_after FROM taskqueue_task
        WHERE status = 'QUEUED' AND queue_name = served.queue_name AND run_after <= now()
        ORDER BY priority DESC, run_after, id
        LIMIT %(batch_size)s
        FOR UPDATE SKIP LOCKED
    ) AS candidate
    ORDER BY candidate.priority DESC, candidate.run_after, candidate.id
    LIMIT %(batch_size)s
)
""" + CLAIM[CLAIM.index("UPDATE taskqueue_task") :]

# Back to the queue: the attempt the claim counted taken back, with its entry in the worker
# list, when the task never started (`uncount`).
RELEASE = """
UPDATE taskqueue_task
SET status = 'QUEUED', worker = '',
    attempts = attempts - %(uncount)s::int,
    worker_ids = CASE WHEN %(uncount)s THEN worker_ids - -1 ELSE worker_ids END
WHERE id = ANY(%(ids)s) AND worker = %(worker)s AND status = 'IN_PROGRESS'
RETURNING id
"""

# ---- Completing (done.py) ------------------------------------------------------------------------

# A batch of successes in one UPDATE. Only the attempt that ran is recorded: a task given back
# and claimed again meanwhile (another worker, a higher attempt) is left alone.
COMPLETE = """
UPDATE taskqueue_task AS task
SET status = 'DONE', finished_at = now(), result = done.result::jsonb, error = ''
FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(results)s::text[])
     AS done(id, attempt, result)
WHERE task.id = done.id AND task.worker = %(worker)s::text AND task.attempts = done.attempt
  AND task.status IN ('IN_PROGRESS', 'QUEUED', 'DEAD')
RETURNING task.id
"""


def with_completion(claim: str) -> str:
    """The claim, preceded by the completion of the last batch, in one statement: one round
    trip and one commit per batch instead of two. The claim's rows come back with `finished`
    false, the ids it marked DONE with `finished` true."""
    head, take = claim.split("\nUPDATE taskqueue_task", 1)
    completed = COMPLETE.strip().replace("\n", "\n    ")
    return (
        f"WITH completed AS (\n    {completed}\n),\n{head.strip().removeprefix('WITH ')}"
        f",\nclaimed AS (\nUPDATE taskqueue_task{take.rstrip()}\n)\n"
        "SELECT false AS finished, * FROM claimed\n"
        "UNION ALL\n"
        "SELECT true, id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM completed\n"
    )


COMPLETE_AND_CLAIM = with_completion(CLAIM)
COMPLETE_AND_CLAIM_FROM_QUEUES = with_completion(CLAIM_FROM_QUEUES)

# ---- Enqueueing (enqueue.py) ---------------------------------------------------------------------

# The INSERT of one task, prepared once per connection (db.run). created_at and run_after
# default to the database's now(); NOTIFY_TRIGGER may wake a waiting worker.
INSERT_TASK = """
INSERT INTO taskqueue_task (name, queue_name, priority, args, kwargs, max_attempts,
                            enqueued_by_id, run_after, status, attempts, worker, worker_ids,
                            error, errors)
VALUES (%s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, coalesce(%s, now()), 'QUEUED', 0, '', '[]',
        '', '[]')
RETURNING id, created_at, run_after
"""
# The columns a new task needs from us; created_at and run_after are database defaults.
COPY_TASKS = """
COPY taskqueue_task (name, queue_name, priority, args, kwargs, max_attempts, status, attempts,
                     worker, worker_ids, error, errors)
FROM STDIN
"""

# ---- Waking idle workers (wakeup.py, pause.py, migration 0008) -----------------------------------

CHANNEL = "taskqueue"
LISTEN = f"LISTEN {CHANNEL}"
WAKE = "SELECT pg_notify(%s, '')"
# PostgreSQL serialises the commits of transactions that notify (a lock on the notification
# queue, held through the commit), so enqueuers that all notified would wait for each other. A
# notification is only needed by a worker that waits for one: notify only then
# (WorkerProcess.waiting, set by an idle worker). One statement-level NOTIFY with no payload:
# the listener wakes its worker for any. FOR EACH STATEMENT: a bulk insert of 10,000 rows
# notifies at most once. NOTIFY is transactional: workers hear it when the INSERT commits, never
# for a rollback. Migration 0006 installs it; a change to it needs a new migration that runs it
# again.
NOTIFY_TRIGGER = f"""
CREATE OR REPLACE FUNCTION taskqueue_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM taskqueue_workerprocess WHERE waiting) THEN
        PERFORM pg_notify('{CHANNEL}', '');
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER taskqueue_notify AFTER INSERT ON taskqueue_task
    FOR EACH STATEMENT EXECUTE FUNCTION taskqueue_notify();
"""

# ---- Worker processes (heartbeat.py, rescuer.py) -------------------------------------------------

REGISTER_PROCESS = """
INSERT INTO taskqueue_workerprocess AS process
    (id, hostname, pid, supervisor_pid, queues, started_at, heartbeat_at, expires_at, exit)
VALUES (%s, %s, %s, %s, %s, now(), now(), now() + make_interval(secs => %s), '')
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), expires_at = EXCLUDED.expires_at,
                               stopped_at = NULL, exit = '', waiting = false
"""
# One statement for all of a supervisor's children, whatever their number. A process that the
# rescuer gave up on (a network cut) and that beats again is alive again: its row says so.
BEAT = """
UPDATE taskqueue_workerprocess AS process
SET heartbeat_at = now(), expires_at = now() + make_interval(secs => %s),
    task_id = beat.task_id, task_started_at = now() - make_interval(secs => beat.running_for),
    stopped_at = NULL, exit = ''
FROM unnest(%s::text[], %s::bigint[], %s::float8[]) AS beat(id, task_id, running_for)
WHERE process.id = beat.id
"""
# The tasks an operator asked to stop that these workers hold (retries.cancel).
CANCEL_REQUESTED = """
SELECT id, worker FROM taskqueue_task
WHERE status = 'IN_PROGRESS' AND worker = ANY(%s) AND cancel_requested_at IS NOT NULL
"""
# A process ended (its supervisor saw it), or was written off (the rescuer gave up on it).
PROCESS_STOPPED = """
UPDATE taskqueue_workerprocess
SET stopped_at = now(), exit = %s, task_id = NULL, task_started_at = NULL, waiting = false
WHERE id = %s
"""
PROCESS_WAITING = "UPDATE taskqueue_workerprocess SET waiting = %s WHERE id = %s"

# The tasks a worker claimed but never started: back to the queue, with the attempt the
# claim counted taken back, and its entry in the worker list.
UNCLAIM = """
UPDATE taskqueue_task
SET status = 'QUEUED', worker = '', attempts = attempts - 1, worker_ids = worker_ids - -1
WHERE status = 'IN_PROGRESS' AND worker = %s AND id <> %s
RETURNING id
"""
# Rows that nobody refreshes any more, and have not been written off yet.
GONE_PROCESSES = """
SELECT id, task_id FROM taskqueue_workerprocess
WHERE stopped_at IS NULL AND expires_at < now()
FOR UPDATE SKIP LOCKED
"""
# Tasks still held by a worker that has no row at all (deleted, or written by hand).
HELD_WITHOUT_PROCESS = """
SELECT DISTINCT task.worker FROM taskqueue_task AS task
WHERE task.status = 'IN_PROGRESS'
  AND NOT EXISTS (SELECT 1 FROM taskqueue_workerprocess AS p WHERE p.id = task.worker)
"""

# ---- Housekeeping: one worker at a time (rescuer.py, retention.py, rollup.py) --------------------

# A transaction-level advisory lock: held until the transaction ends, never waited for.
TRY_LOCK = "SELECT pg_try_advisory_xact_lock(%s)"
# For this transaction only: the server ends the session if it sits idle in it this long (a
# client frozen by SIGSTOP, a debugger, a swapping machine), and its locks go with it.
LIMIT_IDLE = "SELECT set_config('idle_in_transaction_session_timeout', %s, true)"

PRUNE_FINISHED = """
DELETE FROM taskqueue_task WHERE id IN (
    SELECT id FROM taskqueue_task
    WHERE finished_at < now() - make_interval(secs => %s) AND status IN ('DONE', 'CANCELLED')
    LIMIT %s
)
"""
# A schedule's ticks, but its latest: the one the next tick is counted from.
PRUNE_TICKS = """
DELETE FROM taskqueue_scheduledtick WHERE id IN (
    SELECT id FROM taskqueue_scheduledtick AS old
    WHERE tick < now() - make_interval(secs => %s) AND EXISTS (
        SELECT 1 FROM taskqueue_scheduledtick AS later
        WHERE later.schedule = old.schedule AND later.tick > old.tick
    )
    LIMIT %s
)
"""
# Per minute: finished, failed, and how long tasks waited to start (p50, p95), from the minute
# after the last one rolled up (at most an hour back) to the last minute complete.
ROLL_UP = """
WITH since AS (
    SELECT greatest(
        max(minute) + interval '1 minute',
        date_trunc('minute', now()) - interval '1 hour'
    ) AS at
    FROM (SELECT minute FROM taskqueue_minutestats UNION ALL SELECT NULL) AS rolled
)
INSERT INTO taskqueue_minutestats (minute, finished, failed, p50_ms, p95_ms)
SELECT date_trunc('minute', finished_at),
       count(*) FILTER (WHERE status = 'DONE'),
       count(*) FILTER (WHERE status IN ('FAILED', 'DEAD')),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY waited_ms),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY waited_ms)
FROM taskqueue_task, since,
     LATERAL (SELECT extract(epoch FROM started_at - run_after) * 1000 AS waited_ms) AS waited
WHERE finished_at >= since.at
  AND finished_at < date_trunc('minute', now() - make_interval(secs => %s))
GROUP BY 1
ON CONFLICT (minute) DO NOTHING
"""
PRUNE_MINUTES = "DELETE FROM taskqueue_minutestats WHERE minute < now() - make_interval(days => %s)"

# ---- Periodic tasks (schedules.py) ---------------------------------------------------------------

NOW = "SELECT now()"  # the database's clock, which every worker shares (dbtime.py)
# One tick of one schedule, waited for: the worker that gets it decides; the others see its row.
LOCK_SCHEDULE = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"
CLAIM_TICK = """
INSERT INTO taskqueue_scheduledtick (schedule, tick, skipped, created_at)
VALUES (%s, %s, '', now())
ON CONFLICT (schedule, tick) DO NOTHING
RETURNING id
"""
TICK_SKIPPED = "UPDATE taskqueue_scheduledtick SET skipped = %s WHERE schedule = %s AND tick = %s"
TICK_ENQUEUED = "UPDATE taskqueue_scheduledtick SET task_id = %s WHERE schedule = %s AND tick = %s"
# Before this tick: the schedule's last tick, and its last task if that is not finished yet.
BEFORE_TICK = """
SELECT
    (SELECT tick FROM taskqueue_scheduledtick
     WHERE schedule = %(schedule)s AND tick < %(tick)s ORDER BY tick DESC LIMIT 1),
    (SELECT id FROM taskqueue_task
     WHERE status IN ('QUEUED', 'IN_PROGRESS') AND id = (
         SELECT task_id FROM taskqueue_scheduledtick
         WHERE schedule = %(schedule)s AND task_id IS NOT NULL ORDER BY tick DESC LIMIT 1))
"""

# ---- Monitoring (stats.py, dashboard.py) ---------------------------------------------------------

COUNT_BY_QUEUE = """
SELECT queue_name, status, count(*) FROM taskqueue_task GROUP BY queue_name, status
"""
# The partial index task_claimable holds only QUEUED rows, so this reads a small index.
OLDEST_DUE = """
SELECT coalesce(extract(epoch FROM now() - min(run_after)), 0) FROM taskqueue_task
WHERE status = 'QUEUED' AND run_after <= now()
"""
# task_finished (an index on finished_at) serves this.
FINISHED_SINCE = """
SELECT count(*) FROM taskqueue_task WHERE finished_at > now() - make_interval(secs => %s)
"""
TABLE_HEALTH = """
SELECT n_live_tup, n_dead_tup,
       extract(epoch FROM now() - greatest(last_autovacuum, last_vacuum))
FROM pg_stat_user_tables WHERE relname = 'taskqueue_task'
"""
# One row per queue: what waits and runs now, what failed and finished in the last hour.
QUEUE_OVERVIEW = """
WITH open AS (
    SELECT queue_name,
           count(*) FILTER (WHERE status = 'QUEUED') AS queued,
           count(*) FILTER (WHERE status = 'QUEUED' AND run_after <= now()) AS due,
           count(*) FILTER (WHERE status = 'IN_PROGRESS') AS running,
           extract(epoch FROM now() - min(run_after) FILTER (
               WHERE status = 'QUEUED' AND run_after <= now())) AS oldest_due
    FROM taskqueue_task WHERE status IN ('QUEUED', 'IN_PROGRESS') GROUP BY queue_name
), recent AS (
    SELECT queue_name,
           count(*) FILTER (WHERE status = 'FAILED') AS failed,
           count(*) FILTER (WHERE status = 'DEAD') AS dead,
           count(*) FILTER (WHERE status = 'DONE' AND finished_at > now() - interval '1 minute')
               AS done_last_minute
    FROM taskqueue_task WHERE finished_at > now() - interval '1 hour' GROUP BY queue_name
)
SELECT queue_name, coalesce(queued, 0), coalesce(due, 0), coalesce(running, 0),
       coalesce(failed, 0), coalesce(dead, 0), oldest_due, coalesce(done_last_minute, 0) / 60.0
FROM open FULL JOIN recent USING (queue_name)
"""
