"""Step 16, fixed: the enqueue trigger looks at the first task of each level and time per
transaction, as migration 0014 meant it to.

0014's trigger skipped the tasks after a level's first only when their run_after was now(). The
column's default is the statement's start (statement_timestamp()), which inside a transaction
is later: every row of enqueue_many()'s COPY ran the trigger, five times the COPY's cost. Its
memo also keyed a level without the time, and a procedure that commits can give a later task an
earlier time, behind the head. This is sql.NOTIFY_TRIGGER as it is now, frozen here: a change
to that constant needs a migration of its own (test_sql_module checks that they agree).
"""

import importlib

from django.db import migrations

NOTIFY = """
DROP TRIGGER taskqueue_notify_requeued ON taskqueue_task;
DROP TRIGGER taskqueue_notify_enqueued ON taskqueue_task;
CREATE OR REPLACE FUNCTION taskqueue_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- Of the tasks with a default run_after, only the first of each level and time comes here
    -- (the WHEN clause): a mark at id 0 is before them all. A task put back: its place.
    place bigint := CASE WHEN TG_OP = 'INSERT' THEN 0 ELSE NEW.id END;
    known boolean;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(2052849671);
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
            PERFORM pg_notify('taskqueue', NEW.queue_name);
        ELSE
            PERFORM pg_notify('taskqueue',
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


def before() -> str:
    """The trigger as migration 0014 left it."""
    return importlib.import_module("taskqueue.migrations.0014_queue_heads").NOTIFY


class Migration(migrations.Migration):
    dependencies = [
        ("taskqueue", "0014_queue_heads"),
    ]

    operations = [
        migrations.RunSQL(NOTIFY, before(), hints={"model_name": "task"}),
    ]
