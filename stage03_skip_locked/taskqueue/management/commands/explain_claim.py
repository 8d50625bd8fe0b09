"""`python manage.py explain_claim --finished 100000`: the claim's query plan, with and without
the partial index, on a table full of finished rows. The rows and the index are rolled back
afterwards; the id sequence is not (sequences never roll back, so that no two transactions can
ever get the same id), so the next task's id is higher by the rows added here."""

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from taskqueue.claim import claimable
from taskqueue.models import Task


class Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "EXPLAIN ANALYZE the claim query with and without the partial index (rolled back)."

    def add_arguments(self, parser):
        parser.add_argument("--finished", type=int, default=100_000, help="DONE rows to add")
        parser.add_argument("--queued", type=int, default=10, help="QUEUED rows to add")

    def handle(self, *, finished, queued, **_):
        try:
            with transaction.atomic():
                self.fill(finished, queued)
                self.show_plan(f"With the partial index, {finished} finished rows:")
                # DDL is transactional in PostgreSQL: drop the index, look, roll it all back.
                # (DROP INDEX locks the table, so other workers wait until this ends.)
                with connection.cursor() as cursor:
                    cursor.execute("DROP INDEX task_claimable")
                    cursor.execute("ANALYZE taskqueue_task")
                self.show_plan("Without it, as in stage 2:")
                raise Rollback
        except Rollback:
            self.stdout.write(
                "(rolled back: the rows and the index are as they were; the id sequence moved on"
                f" by {finished + queued:,}, as sequences do)"
            )

    def fill(self, finished, queued):
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO taskqueue_task (name, kwargs, status, created_at, worker, error)"
                " SELECT 'noop', '{}', 'DONE', now(), '', '' FROM generate_series(1, %s)",
                [finished],
            )
        Task.objects.bulk_create(Task(name="noop") for _ in range(queued))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE taskqueue_task")

    def show_plan(self, title):
        self.stdout.write(title)
        plan = claimable(10).explain(analyze=True, buffers=True, costs=False, timing=False)
        self.stdout.write(plan + "\n")
