"""Every statement stage 5 sends that the ORM does not write, by name, in one place.

The code imports them from here (`sql.CLAIM`), and so does the benchmark (`make bench` runs
COMPLETE_AND_CLAIM under pgbench): what is measured is what runs. The trigger that wakes idle
workers is here too, beside the statements it serves. `%(name)s` and `%s` are psycopg's
placeholders; every value is passed as a parameter, never formatted into the text.
"""

# ---- Claiming (claim.py) -------------------------------------------------------------------------

# The SKIP LOCKED claim in one statement, whatever the batch size: the CTE picks and locks the
# rows, the UPDATE around it marks them, RETURNING sends them back. Nothing for a worker whose
# row says it has ended or expired (NOT EXISTS): its tasks have been given back, or are about
# to be, and what it claimed now would be held by a worker that nobody vouches for.
#
# It reads each level of the queue (a priority: taskqueue_queuelevel), highest first, from the
# level's head (taskqueue_head(), HEADS below), not from the start of the index: the entries
# before the head are tasks already claimed, and while a long transaction holds the horizon
# back, vacuum can remove none of them. A claim that started at the index's first entry would
# step over every task run since the horizon was held, and cost more with each one.
CLAIM = """
WITH next AS (
    SELECT task.id
    FROM (
        SELECT queue_name, priority FROM taskqueue_queuelevel
        WHERE queue_name = %(queue)s
        ORDER BY priority DESC  -- the levels in turn, highest first: rows of the next level
    ) AS level                  -- are locked only if this one had too few
    CROSS JOIN LATERAL taskqueue_head(level.queue_name, level.priority) AS head
    CROSS JOIN LATERAL (
        SELECT id FROM taskqueue_task
        WHERE status = 'QUEUED' AND queue_name = level.queue_name AND priority = level.priority
          AND (run_after, id) >= (head.run_after, head.task_id) AND run_after <= now()
          AND NOT EXISTS (
              SELECT 1 FROM taskqueue_workerprocess
              WHERE id = %(worker)s AND (stopped_at IS NOT NULL OR expires_at < now())
          )
        ORDER BY run_after, id
        LIMIT %(batch_size)s
        FOR UPDATE SKIP LOCKED
    ) AS task
    LIMIT %(batch_size)s
)
UPDATE taskqueue_task AS task
SET status = 'IN_PROGRESS',
    started_at = NULL,  -- claimed is not started: the worker says when it starts (BEAT, COMPLETE)
    attempts = task.attempts + 1,
    worker = %(worker)s::text,
    worker_ids = task.worker_ids || to_jsonb(%(worker)s::text)
WHERE task.id = ANY(ARRAY(SELECT id FROM next))  -- by primary key, whatever the plan's guess
RETURNING task.id, task.name, task.args, task.kwargs, task.attempts, task.max_attempts,
          task.queue_name, task.priority, task.created_at, task.started_at
"""
# The claim's reading half alone, for EXPLAIN: what one claim reads to find its batch (the
# pressure lab samples it, test_heads counts it).
CLAIM_SCAN = CLAIM.split("\nUPDATE taskqueue_task")[0] + "\nSELECT id FROM next"
# Several queues: the highest priority due task of any of them first, then the oldest, so no
# queue waits behind another's name. The index `task_claimable` is ordered within one level of
# one queue. Which levels of the served queues have a due task (`busy`)? Most often one: the
# batch is then locked from it alone, in index order. When several have, each one's best
# candidates come from an index scan of their own (LATERAL), read without a lock, and the best
# of them say how many each level gives (`share`). Either way each level's scan locks just that
# many, passing over rows another worker holds (SKIP LOCKED): only the rows claimed are locked.
# A lock in each level's first scan would lock a batch per level, and hide the rows not claimed
# from other workers until the claim commits. Every scan starts at its level's head (`level`).
CLAIM_FROM_QUEUES = """
WITH level AS (
    SELECT level.queue_name, level.priority, head.run_after AS head_at, head.task_id AS head_id
    FROM taskqueue_queuelevel AS level
    CROSS JOIN LATERAL taskqueue_head(level.queue_name, level.priority) AS head
    WHERE level.queue_name = ANY(%(queues)s::text[])
), busy AS (
    SELECT level.* FROM level
    WHERE (  -- one probe of the index per level (an EXISTS could become a hash join instead)
        SELECT true FROM taskqueue_task
        WHERE status = 'QUEUED' AND queue_name = level.queue_name AND priority = level.priority
          AND (run_after, id) >= (level.head_at, level.head_id) AND run_after <= now()
        ORDER BY run_after, id  -- the index's order: the first row it finds, not a scan's
        LIMIT 1
    )
), candidate AS (
    SELECT best.queue_name, best.priority
    FROM busy
    CROSS JOIN LATERAL (
        SELECT queue_name, priority, run_after, id FROM taskqueue_task
        WHERE status = 'QUEUED' AND queue_name = busy.queue_name AND priority = busy.priority
          AND (run_after, id) >= (busy.head_at, busy.head_id) AND run_after <= now()
        ORDER BY run_after, id
        LIMIT %(batch_size)s
    ) AS best
    WHERE (SELECT count(*) FROM busy) > 1
    ORDER BY best.priority DESC, best.run_after, best.id
    LIMIT %(batch_size)s
), share AS (
    SELECT queue_name, priority, %(batch_size)s::bigint AS tasks FROM busy
    WHERE (SELECT count(*) FROM busy) = 1
    UNION ALL
    SELECT queue_name, priority, count(*) FROM candidate GROUP BY queue_name, priority
), next AS (
    SELECT locked.id
    FROM share
    JOIN busy USING (queue_name, priority)
    CROSS JOIN LATERAL (
        SELECT id FROM taskqueue_task
        WHERE status = 'QUEUED' AND queue_name = busy.queue_name AND priority = busy.priority
          AND (run_after, id) >= (busy.head_at, busy.head_id) AND run_after <= now()
          AND NOT EXISTS (
              SELECT 1 FROM taskqueue_workerprocess
              WHERE id = %(worker)s AND (stopped_at IS NOT NULL OR expires_at < now())
          )
        ORDER BY run_after, id
        LIMIT share.tasks
        FOR UPDATE SKIP LOCKED
    ) AS locked
    LIMIT %(batch_size)s  -- never more, which the planner cannot tell from share.tasks
)
""" + CLAIM[CLAIM.index("UPDATE taskqueue_task") :]

# Back to the queue: the attempt the claim counted taken back, with its entry in the worker
# list, when the task never started (`uncount`).
RELEASE = """
UPDATE taskqueue_task
SET status = CASE WHEN cancel_requested_at IS NULL THEN 'QUEUED' ELSE 'CANCELLED' END,
    finished_at = CASE WHEN cancel_requested_at IS NULL THEN NULL ELSE now() END,
    worker = '',
    attempts = attempts - %(uncount)s::int,
    worker_ids = CASE WHEN %(uncount)s THEN worker_ids - -1 ELSE worker_ids END
WHERE id = ANY(%(ids)s) AND worker = %(worker)s AND status = 'IN_PROGRESS'
RETURNING id
"""

# ---- Completing (done.py) ------------------------------------------------------------------------

# A batch of successes in one UPDATE. Only the attempt that ran is recorded: a task given back
# and claimed again meanwhile (another worker, a higher attempt) is left alone.
#
# No deadlocks among the queue's own statements: of those that write several tasks, only this
# one and RELEASE (each on its worker's own tasks) wait for a row while holding others. The
# others never do: UNCLAIM and CANCEL pass over a locked row (SKIP LOCKED) and come back for it
# alone. Two statements that wait for each other need both to wait while holding. (A multi-row
# UPDATE of your own, or the admin's bulk delete, can still meet a completion in a deadlock:
# PostgreSQL then ends one of the two, and if it is the completion, its worker gives back
# what it holds and goes on: worker.recover().)
COMPLETE = """
UPDATE taskqueue_task AS task
SET status = 'DONE', finished_at = now(), result = done.result::jsonb, error = '',
    started_at = now() - make_interval(secs => done.started_ago)
FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(results)s::text[],
            %(started_ago)s::float8[])
     AS done(id, attempt, result, started_ago)
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
WAKE = "SELECT pg_notify(%s, '')"  # every listening worker, whatever its queues (pause.py)
HEAR = f"SELECT pg_notify('{CHANNEL}', %s)"  # a listener's NOTIFY to itself (wakeup.py)
# PostgreSQL serialises the commits of transactions that notify (a lock on the notification
# queue, held through the commit), so enqueuers that all notified would wait for each other. A
# notification is only needed by a worker that waits for one: notify only then
# (WorkerProcess.waiting, set by an idle worker that serves the task's queue).
#
# Decided at commit, not at the INSERT: a transaction that enqueues, works on, and commits a
# second later must wake a worker that began to wait in between (DEFERRABLE INITIALLY
# DEFERRED: the trigger runs as the transaction commits). Fired by a task enqueued and by one
# put back in the queue (a retry, a give-back, a requeue). The payload names the queue, and
# the time the task comes due if it is not due yet: a worker wakes for its own queues only,
# and at the time the task comes due. Once per queue per transaction (the WHEN clause notes
# the queues it has seen in a setting of the transaction's): a COPY of 10,000 rows runs the
# function once, not 10,000 times. NOTIFY is transactional: workers hear it when the
# transaction commits, never for a rollback.
#
# One race is left: a worker that says it waits after the trigger looked (and found nobody
# waiting), and looks again before the commit is visible, would sleep a full poll interval.
# The commit takes that long under pressure: a WAL flush on a busy disk, a synchronous replica.
# So the trigger holds WAKE_LOCK shared until its transaction ends, and a worker that has said
# it waits takes it alone for an instant before its second look (heartbeat.waiting): the look
# then comes after every such commit. A trigger that runs after that instant finds the worker
# waiting (in a READ COMMITTED transaction, Django's default: its look is a new snapshot).
#
# Migrations 0008 and 0013 install it, with the text written out in the migration itself: a
# change here needs a new migration (test_sql_module checks that the database runs this text).
WAKE_LOCK = 0x7A5C_0007  # as the rescuer's lock: a number no other code here locks
WAIT_FOR_ENQUEUERS = "SELECT pg_advisory_xact_lock(%s)"
NOTIFY_TRIGGER = f"""
CREATE OR REPLACE FUNCTION taskqueue_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- Of the tasks with a default run_after, only the first of each level and time comes here
    -- (the WHEN clause): a mark at id 0 is before them all. A task put back: its place.
    place bigint := CASE WHEN TG_OP = 'INSERT' THEN 0 ELSE NEW.id END;
    known boolean;
BEGIN
    PERFORM pg_advisory_xact_lock_shared({WAKE_LOCK});
    known := EXISTS (SELECT 1 FROM taskqueue_queuelevel
                     WHERE queue_name = NEW.queue_name AND priority = NEW.priority);
    IF NOT known OR current_setting('transaction_isolation') <> 'read committed'
       OR (NEW.run_after, place) < (SELECT head.run_after, head.task_id
                                    FROM taskqueue_head(NEW.queue_name, NEW.priority) AS head) THEN
        IF NOT known THEN
            BEGIN
                INSERT INTO taskqueue_queuelevel (queue_name, priority)
                VALUES (NEW.queue_name, NEW.priority) ON CONFLICT DO NOTHING;
            EXCEPTION WHEN serialization_failure THEN
                NULL;  -- made since this REPEATABLE READ transaction began: it is there
            END;
        END IF;
        INSERT INTO taskqueue_queuehead (queue_name, priority, run_after, task_id, moved)
        VALUES (NEW.queue_name, NEW.priority, NEW.run_after, place, false);
    END IF;
    IF taskqueue_first_in_transaction('wake ' || NEW.queue_name, NEW.run_after <= now())
       AND EXISTS (SELECT 1 FROM taskqueue_workerprocess
                   WHERE waiting AND queues ? NEW.queue_name) THEN
        IF NEW.run_after <= clock_timestamp() THEN
            PERFORM pg_notify('{CHANNEL}', NEW.queue_name);
        ELSE
            PERFORM pg_notify('{CHANNEL}',
                              NEW.queue_name || ' ' || extract(epoch FROM NEW.run_after));
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION taskqueue_first_in_transaction(level text, due boolean)
RETURNS boolean LANGUAGE sql VOLATILE AS $$
    -- The transaction's memo: '|key|' for each key seen, '|key+|' if its task was not due.
    -- A queue's name may hold '|' or '+': escaped, no two keys look alike. One expression, no
    -- CTE (a COPY runs this for every row, and a CTE took a third of the COPY's speed).
    SELECT strpos(coalesce(current_setting('taskqueue.woken', true), ''),
                  '|' || replace(replace(replace(level, '\\', '\\\\'), '|', '\\p'), '+', '\\q')
                  || CASE WHEN due THEN '|' ELSE '+|' END) = 0
       AND set_config('taskqueue.woken',
                      coalesce(current_setting('taskqueue.woken', true), '')
                      || '|' || replace(replace(replace(level, '\\', '\\\\'), '|', '\\p'),
                                        '+', '\\q')
                      || CASE WHEN due THEN '|' ELSE '+|' END,
                      true) <> ''
$$;
CREATE CONSTRAINT TRIGGER taskqueue_notify_enqueued AFTER INSERT ON taskqueue_task
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    -- The default run_after is the transaction's start (enqueue) or the statement's (a COPY's
    -- column default): the tasks of a level that share it sort after the first of them, whose
    -- mark covers them all. The key holds the time, which is not always later than the last
    -- (a procedure that commits: its statement began before its new transaction). CASE, not
    -- OR: a task with a run_after of its own must never count as the first.
    WHEN (CASE WHEN NEW.run_after IN (now(), statement_timestamp())
               THEN taskqueue_first_in_transaction(
                   NEW.priority || ' ' || extract(epoch FROM NEW.run_after) || ' '
                   || NEW.queue_name,
                   NEW.run_after <= now())
               ELSE true END)
    EXECUTE FUNCTION taskqueue_notify();
CREATE CONSTRAINT TRIGGER taskqueue_notify_requeued
    AFTER UPDATE OF status, run_after, priority, queue_name ON taskqueue_task
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.status = 'QUEUED'
          AND (OLD.status <> 'QUEUED' OR NEW.run_after < OLD.run_after
               OR NEW.priority <> OLD.priority OR NEW.queue_name <> OLD.queue_name))
    EXECUTE FUNCTION taskqueue_notify();
"""

# ---- The heads: where a claim starts reading (heads.py, migration 0014) --------------------------

# A level is a queue and a priority (taskqueue_queuelevel: a row per level ever used, written
# once and never changed). Its head is a place in the claim index, (run_after, id): no QUEUED
# task of the level that any new snapshot sees sorts before it. The claim reads the level's
# index entries from there on.
#
# The head is not a row that is updated: under a held horizon each update would leave one more
# version of it that every claim must step over, the spiral again. It is a log
# (taskqueue_queuehead), read from its newest end: the newest mark that says the head moved
# (`moved`), and any mark written after it by a task that came in before it (not `moved`).
# The head is the earliest of those. Marks older than the newest move are deleted as the head
# moves on, and the reads never go back past it.
#
# Who moves it forward: taskqueue_advance(), which a worker that claimed calls before its next
# claim, heads.ADVANCE_EVERY apart at the soonest. It finds the level's first QUEUED task at or
# after the head (due or not) and moves the head there, or to the present if there is none.
# Who moves it back: the trigger above, for a task that enters the queue before the head (an
# enqueue in a transaction that began before the last move, a task given back or put back for
# a retry, a run_after in the past, a new level). The race between the two: a transaction that
# inserted a task the advance cannot see yet, then commits after the head moved past it.
# WAKE_LOCK settles it: the trigger runs at commit holding it shared, and the advance goes
# ahead only if it gets it alone (pg_try_advisory_xact_lock), so no commit of a task runs
# beside an advance, and a trigger that runs after one sees the head it wrote. An advance that
# found the lock taken for a second (`wait`: commits back to back) waits for it, 50 ms at most.
# A REPEATABLE READ transaction reads an old head (its snapshot's): its tasks always write a
# mark.
HEADS = f"""
CREATE OR REPLACE FUNCTION taskqueue_head(queue text, level integer)
RETURNS TABLE (run_after timestamptz, task_id bigint) LANGUAGE sql STABLE AS $$
    SELECT coalesce(earliest.run_after, '-infinity'), coalesce(earliest.task_id, 0)
    FROM (SELECT) AS one
    LEFT JOIN LATERAL (
        SELECT mark.run_after, mark.task_id FROM taskqueue_queuehead AS mark
        WHERE mark.queue_name = queue AND mark.priority = level
          AND mark.id >= coalesce((SELECT max(id) FROM taskqueue_queuehead
                                   WHERE queue_name = queue AND priority = level AND moved), 0)
        ORDER BY mark.run_after, mark.task_id
        LIMIT 1
    ) AS earliest ON true
$$;
CREATE OR REPLACE FUNCTION taskqueue_advance(queues text[], wait boolean) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    level record;
    head record;
    since bigint;
    first_at timestamptz;
    first_id bigint;
    present timestamptz;
    mark bigint;
    moves integer := 0;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RETURN NULL;  -- its statements would read the snapshot of before the lock
    END IF;
    -- A move lost in a crash leaves the head where it was, which is never wrong: no need to
    -- wait for the WAL's flush while enqueues wait for the lock.
    PERFORM set_config('synchronous_commit', 'off', true);
    IF NOT pg_try_advisory_xact_lock({WAKE_LOCK}) THEN
        IF NOT wait THEN
            RETURN NULL;  -- a task is being committed: its trigger may lower a head; later
        END IF;
        -- Behind the commits under way, for 50 ms at most: the commits that come meanwhile
        -- wait behind this one, and a transaction that holds the lock long (its trigger made
        -- IMMEDIATE) must not hold them all for the worker's lock_timeout.
        PERFORM set_config('lock_timeout', '50ms', true);
        BEGIN
            PERFORM pg_advisory_xact_lock({WAKE_LOCK});
        EXCEPTION WHEN lock_not_available THEN
            RETURN NULL;
        END;
    END IF;
    -- Each statement below reads a snapshot taken after the lock: every commit is in it.
    FOR level IN SELECT queue_name, priority FROM taskqueue_queuelevel
                 WHERE queue_name = ANY(queues) LOOP
        SELECT coalesce(max(id), 0) INTO since FROM taskqueue_queuehead
        WHERE queue_name = level.queue_name AND priority = level.priority AND moved;
        SELECT * INTO head FROM taskqueue_head(level.queue_name, level.priority);
        SELECT run_after, id INTO first_at, first_id FROM taskqueue_task
        WHERE status = 'QUEUED' AND queue_name = level.queue_name
          AND priority = level.priority AND (run_after, id) >= (head.run_after, head.task_id)
        ORDER BY run_after, id LIMIT 1;
        present := clock_timestamp();
        IF first_at IS NULL OR first_at > present THEN  -- none, or not due: up to the present
            first_at := present;
            first_id := 0;
        END IF;
        IF (first_at, first_id) > (head.run_after, head.task_id) THEN
            INSERT INTO taskqueue_queuehead (queue_name, priority, run_after, task_id, moved)
            VALUES (level.queue_name, level.priority, first_at, first_id, true)
            RETURNING id INTO mark;
            DELETE FROM taskqueue_queuehead
            WHERE queue_name = level.queue_name AND priority = level.priority
              AND id >= since AND id < mark;
            moves := moves + 1;
        END IF;
    END LOOP;
    RETURN moves;
END $$;
"""
ADVANCE = "SELECT taskqueue_advance(%s, %s)"

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
# When the tasks those workers run now started, for the ones that do not say yet (a claimed
# task has no start until it starts). A row locked by its completion is passed over: the
# completion writes the start itself.
TASKS_STARTED = """
UPDATE taskqueue_task AS task
SET started_at = now() - make_interval(secs => beat.running_for)
FROM unnest(%s::text[], %s::bigint[], %s::float8[]) AS beat(worker, task_id, running_for)
WHERE task.id = beat.task_id AND task.id IN (
    SELECT id FROM taskqueue_task
    WHERE id = ANY(%s) AND status = 'IN_PROGRESS' AND started_at IS NULL
    FOR UPDATE SKIP LOCKED
) AND task.worker = beat.worker
"""
# Cancelling (retries.cancel): a queued task ends at once; a running one is asked to stop, and
# its worker's supervisor stops it (CANCEL_REQUESTED). One statement, so that a task that changes
# state meanwhile (claimed, or put back) is judged in its new state. A row another transaction
# holds is passed over (SKIP LOCKED) and returned as `skipped`: cancel() comes back for each
# alone, so that this statement never waits while it holds others (see COMPLETE).
CANCEL = """
WITH cancellable AS (
    SELECT id FROM taskqueue_task
    WHERE id = ANY(%(ids)s)
      AND (status = 'QUEUED' OR (status = 'IN_PROGRESS' AND cancel_requested_at IS NULL))
), target AS (
    SELECT id FROM taskqueue_task
    WHERE id IN (SELECT id FROM cancellable)
      AND (status = 'QUEUED' OR (status = 'IN_PROGRESS' AND cancel_requested_at IS NULL))
    FOR UPDATE SKIP LOCKED
), cancelled AS (
    UPDATE taskqueue_task AS task
    SET status = CASE WHEN task.status = 'QUEUED' THEN 'CANCELLED' ELSE task.status END,
        finished_at = CASE WHEN task.status = 'QUEUED' THEN now() ELSE task.finished_at END,
        cancel_requested_at = now()
    FROM target
    WHERE task.id = target.id
    RETURNING task.id
)
SELECT id, false AS skipped FROM cancelled
UNION ALL
SELECT id, true FROM cancellable WHERE id NOT IN (SELECT id FROM target)
"""
# One skipped task, alone: waiting for its lock, the statement holds no other.
CANCEL_ONE = """
UPDATE taskqueue_task
SET status = CASE WHEN status = 'QUEUED' THEN 'CANCELLED' ELSE status END,
    finished_at = CASE WHEN status = 'QUEUED' THEN now() ELSE finished_at END,
    cancel_requested_at = now()
WHERE id = %s AND (status = 'QUEUED' OR (status = 'IN_PROGRESS' AND cancel_requested_at IS NULL))
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
# claim counted taken back, and its entry in the worker list. A row locked by someone else is
# passed over, not waited for: most often a statement of the dead worker itself, still in the
# server; what it leaves held, the rescuer gives back later (HELD_BY_ENDED_WORKERS).
UNCLAIM = """
UPDATE taskqueue_task
SET status = CASE WHEN cancel_requested_at IS NULL THEN 'QUEUED' ELSE 'CANCELLED' END,
    finished_at = CASE WHEN cancel_requested_at IS NULL THEN NULL ELSE now() END,
    worker = '', attempts = attempts - 1, worker_ids = worker_ids - -1
WHERE id IN (
    SELECT id FROM taskqueue_task
    WHERE status = 'IN_PROGRESS' AND worker = %s AND id <> %s
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""
# Rows that nobody refreshes any more, and have not been written off yet.
GONE_PROCESSES = """
SELECT id, task_id FROM taskqueue_workerprocess
WHERE stopped_at IS NULL AND expires_at < now()
FOR UPDATE SKIP LOCKED
"""
# Tasks still held by a worker that has ended (its row says so) or has no row at all (deleted,
# or written by hand). A worker killed in the middle of a statement that claimed (waiting for a
# lock, say) leaves one behind: the server commits the statement after the supervisor gave
# back what the worker held and wrote its end.
HELD_BY_ENDED_WORKERS = """
SELECT DISTINCT task.worker FROM taskqueue_task AS task
LEFT JOIN taskqueue_workerprocess AS process ON process.id = task.worker
WHERE task.status = 'IN_PROGRESS' AND (process.id IS NULL OR process.stopped_at IS NOT NULL)
"""

# ---- Housekeeping: one worker at a time (rescuer.py, retention.py, rollup.py) --------------------

# A transaction-level advisory lock: held until the transaction ends, never waited for.
TRY_LOCK = "SELECT pg_try_advisory_xact_lock(%s)"
# For this transaction only: the server ends the session if it sits idle in it this long (a
# client frozen by SIGSTOP, a debugger, a swapping machine), and its locks go with it.
LIMIT_IDLE = "SELECT set_config('idle_in_transaction_session_timeout', %s, true)"

PRUNE_FINISHED = """
DELETE FROM taskqueue_task WHERE id = ANY(ARRAY(
    SELECT id FROM taskqueue_task
    WHERE finished_at < now() - make_interval(secs => %(older_than)s)
      AND status IN ('DONE', 'CANCELLED')
      -- a DONE task that holds its idempotency key stays as long as the key does (keys.py)
      AND (idempotency_key IS NULL OR status <> 'DONE'
           OR finished_at < now() - make_interval(hours => %(key_window_hours)s))
    LIMIT %(batch)s
))
"""
# FAILED and DEAD tasks wait for a person (the dashboard, the admin) for a period of their own
# (task_failures serves this). Both deletes take their ids as an array: with `id IN (SELECT
# ...)` the planner joins the batch to the whole table, a scan of a million rows per batch.
PRUNE_FAILED = """
DELETE FROM taskqueue_task WHERE id = ANY(ARRAY(
    SELECT id FROM taskqueue_task
    WHERE status IN ('FAILED', 'DEAD') AND finished_at < now() - make_interval(secs => %s)
    LIMIT %s
))
"""
# The rows of worker processes that ended: each restart adds one.
PRUNE_WORKERS = """
DELETE FROM taskqueue_workerprocess WHERE id IN (
    SELECT id FROM taskqueue_workerprocess
    WHERE stopped_at < now() - make_interval(secs => %s)
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
FROM (  -- one arm per index, task_retained and task_failures, each a range of finish times
    SELECT finished_at, status, started_at, run_after FROM taskqueue_task
    WHERE status IN ('DONE', 'CANCELLED') AND finished_at >= (SELECT at FROM since)
      AND finished_at < date_trunc('minute', now() - make_interval(secs => %(grace)s))
    UNION ALL
    SELECT finished_at, status, started_at, run_after FROM taskqueue_task
    WHERE status IN ('FAILED', 'DEAD') AND finished_at >= (SELECT at FROM since)
      AND finished_at < date_trunc('minute', now() - make_interval(secs => %(grace)s))
) AS ended,
     LATERAL (SELECT extract(epoch FROM started_at - run_after) * 1000 AS waited_ms) AS waited
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

# The tasks that are the queue's state, each status counted through the partial index that
# holds only its rows: QUEUED (task_claimable), IN_PROGRESS (task_running), FAILED and DEAD
# (task_failures). DONE and CANCELLED rows are history, counted per minute by the roll-up:
# counting them here would read every retained row at every probe and scrape.
COUNT_BY_QUEUE = """
SELECT queue_name, 'QUEUED', count(*) FROM taskqueue_task WHERE status = 'QUEUED'
GROUP BY queue_name
UNION ALL
SELECT queue_name, 'IN_PROGRESS', count(*) FROM taskqueue_task WHERE status = 'IN_PROGRESS'
GROUP BY queue_name
UNION ALL
SELECT queue_name, status, count(*) FROM taskqueue_task WHERE status IN ('FAILED', 'DEAD')
GROUP BY queue_name, status
"""
# The oldest task waiting to start, since it came due: queued, or claimed in a batch and not
# started yet (no started_at); and how many wait in batches. One arm per status, each read
# through the partial index of its status (task_claimable, task_running): written as one WHERE
# with OR, a backlog among the retained rows makes the planner scan the table instead.
OLDEST_DUE = """
SELECT coalesce(extract(epoch FROM now() - min(oldest)), 0), sum(claimed)::int
FROM (
    SELECT min(run_after) AS oldest, 0 AS claimed
    FROM taskqueue_task WHERE status = 'QUEUED' AND run_after <= now()
    UNION ALL
    SELECT min(run_after), count(*)
    FROM taskqueue_task WHERE status = 'IN_PROGRESS' AND started_at IS NULL
) AS waiting
"""
# How fast tasks finish, per queue: the latest finished ones of the last minute, at most
# %(sample)s of them (task_retained and task_failures, each read backwards). Counting the whole
# minute reads 60,000 rows at 1,000 tasks/s; this reads a bounded sample at any rate, and its
# time span gives the rate (stats.finished_rates). Status and queue come from the sample's rows.
RECENTLY_FINISHED = """
SELECT queue_name, count(*) FILTER (WHERE status = 'DONE'), count(*),
       extract(epoch FROM now() - min(finished_at))
FROM (
    (SELECT queue_name, status, finished_at FROM taskqueue_task
     WHERE status IN ('DONE', 'CANCELLED')
       AND finished_at > now() - make_interval(secs => %(window)s)
     ORDER BY finished_at DESC LIMIT %(sample)s)
    UNION ALL
    (SELECT queue_name, status, finished_at FROM taskqueue_task
     WHERE status IN ('FAILED', 'DEAD')
       AND finished_at > now() - make_interval(secs => %(window)s)
     ORDER BY finished_at DESC LIMIT %(sample)s)
    ORDER BY finished_at DESC LIMIT %(sample)s
) AS latest
GROUP BY queue_name
"""
# And whether autovacuum runs on it: off for the server (autovacuum = off) or for the table
# (autovacuum_enabled = false), nothing removes the dead row versions every claim leaves.
TABLE_HEALTH = """
SELECT stats.n_live_tup, stats.n_dead_tup,
       extract(epoch FROM now() - greatest(stats.last_autovacuum, stats.last_vacuum)),
       current_setting('autovacuum')::boolean AND coalesce(
           (SELECT option_value::boolean FROM pg_options_to_table(class.reloptions)
            WHERE option_name = 'autovacuum_enabled'), true)
FROM pg_stat_user_tables AS stats JOIN pg_class AS class ON class.oid = stats.relid
WHERE stats.relname = 'taskqueue_task'
"""
# What holds back vacuum, the "xmin horizon": the oldest transaction of another session that
# holds a snapshot or a transaction id (idle in transaction, a long report, a standby's
# hot_standby_feedback through its walsender), in seconds and in transaction ids; the oldest
# prepared transaction; the oldest replication slot (transaction ids; a logical slot's
# catalog_xmin holds back only the catalogs). While one is held, no row version that died after
# it began can be removed: the claim walks past the dead index entries of every task finished
# since. A session of another role shows its transaction ids but not its start, unless this
# role has pg_read_all_stats (pg_monitor has it).
HORIZON = """
WITH holders AS (  -- what can hold back this database's tables: its own sessions, walsenders
    SELECT xact_start, greatest(age(backend_xmin), age(backend_xid)) AS xids
    FROM pg_stat_activity
    WHERE (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL) AND pid <> pg_backend_pid()
      AND backend_type IS DISTINCT FROM 'autovacuum worker'
      AND (datname = current_database() OR backend_type = 'walsender')
)
SELECT
    (SELECT extract(epoch FROM now() - min(xact_start)) FROM holders),
    (SELECT max(xids) FROM holders),
    (SELECT extract(epoch FROM now() - min(prepared)) FROM pg_prepared_xacts
     WHERE database = current_database()),
    (SELECT max(age(xmin)) FROM pg_replication_slots)
"""
# The oldest finished task retention would delete (task_retained; the same rows as
# PRUNE_FINISHED's, without its cutoff): how far behind retention is.
OLDEST_FINISHED = """
SELECT extract(epoch FROM now() - min(finished_at)) FROM taskqueue_task
WHERE status IN ('DONE', 'CANCELLED')
  AND (idempotency_key IS NULL OR status <> 'DONE'
       OR finished_at < now() - make_interval(hours => %s))
"""
# One row per queue: what waits (queued, or claimed in a batch and not started) and runs now,
# and the failures retention keeps, each status through its partial index as in OLDEST_DUE
# (task_claimable, task_running, task_failures). The rates are RECENTLY_FINISHED's.
QUEUE_OVERVIEW = """
WITH queued AS (
    SELECT queue_name, count(*) AS queued, count(*) FILTER (WHERE run_after <= now()) AS due,
           min(run_after) FILTER (WHERE run_after <= now()) AS oldest
    FROM taskqueue_task WHERE status = 'QUEUED' GROUP BY queue_name
), taken AS (
    SELECT queue_name, count(*) FILTER (WHERE started_at IS NULL) AS claimed,
           count(*) FILTER (WHERE started_at IS NOT NULL) AS running,
           min(run_after) FILTER (WHERE started_at IS NULL) AS oldest
    FROM taskqueue_task WHERE status = 'IN_PROGRESS' GROUP BY queue_name
), failures AS (
    SELECT queue_name,
           count(*) FILTER (WHERE status = 'FAILED') AS failed,
           count(*) FILTER (WHERE status = 'DEAD') AS dead
    FROM taskqueue_task WHERE status IN ('FAILED', 'DEAD') GROUP BY queue_name
)
SELECT queue_name, coalesce(queued, 0), coalesce(due, 0), coalesce(claimed, 0),
       coalesce(running, 0), coalesce(failed, 0), coalesce(dead, 0),
       extract(epoch FROM now() - least(queued.oldest, taken.oldest))
FROM queued FULL JOIN taken USING (queue_name) FULL JOIN failures USING (queue_name)
"""
