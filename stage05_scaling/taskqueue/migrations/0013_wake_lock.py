"""The NOTIFY trigger holds a lock that a worker about to wait takes alone (sql.WAKE_LOCK): a
commit slow to become visible can no longer slip between a worker's flag and its second look.

The function as this migration installs it, frozen here (migration 0008 holds the one before);
sql.NOTIFY_TRIGGER is the text the code holds, and a test checks that the database runs it."""

from django.db import migrations

NOTIFY = """
CREATE OR REPLACE FUNCTION taskqueue_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(2052849671);
    IF EXISTS (SELECT 1 FROM taskqueue_workerprocess
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
"""
NOTIFY_BEFORE = NOTIFY.replace("    PERFORM pg_advisory_xact_lock_shared(2052849671);\n", "")


class Migration(migrations.Migration):
    dependencies = [
        ("taskqueue", "0012_retention_index"),
    ]

    operations = [
        migrations.RunSQL(NOTIFY, NOTIFY_BEFORE, hints={"model_name": "task"}),
    ]
