"""The queue as Prometheus metrics, read from the table at each scrape (stats.py).

Alert on these, for example: `taskqueue_oldest_queued_seconds > 300` (tasks wait too long: add
workers), `taskqueue_tasks{status="DEAD"}` rising (a task keeps failing), or
`taskqueue_table_dead_rows` far above `taskqueue_table_live_rows` (autovacuum is behind),
`taskqueue_oldest_transaction_seconds > 60` (a session holds back vacuum: stats.pressure).
`taskqueue_tasks` counts the tasks still in play (QUEUED, IN_PROGRESS, FAILED, DEAD), not the
finished ones retention keeps: `taskqueue_finished_per_second` is their rate.
"""

from prometheus_client.core import GaugeMetricFamily

from taskqueue.stats import queue_stats


class QueueCollector:
    def collect(self):
        stats = queue_stats()
        tasks = GaugeMetricFamily(
            "taskqueue_tasks", "Tasks in the table, by queue and status", labels=["queue", "status"]
        )
        for queue, statuses in sorted(stats["by_queue"].items()):
            for status, count in sorted(statuses.items()):
                tasks.add_metric([queue, status], count)
        yield tasks
        yield GaugeMetricFamily(
            "taskqueue_oldest_queued_seconds",
            "How long the oldest due task has waited to start (queued, or claimed and not started)",
            value=stats["oldest_queued_seconds"],
        )
        yield GaugeMetricFamily(
            "taskqueue_claimed_not_started",
            "Tasks a worker claimed in a batch and has not started yet",
            value=stats["claimed_not_started"],
        )
        yield GaugeMetricFamily(
            "taskqueue_finished_per_second",
            "Tasks finished per second: the latest 1,000 of the last minute, or all of it",
            value=stats["tasks_per_second"],
        )
        yield GaugeMetricFamily(
            "taskqueue_table_dead_rows",
            "Dead row versions in the task table, waiting for vacuum",
            value=stats["table"]["dead_rows"],
        )
        yield GaugeMetricFamily(
            "taskqueue_table_live_rows",
            "Live rows in the task table",
            value=stats["table"]["live_rows"],
        )
        yield GaugeMetricFamily(
            "taskqueue_table_autovacuum",
            "1 when autovacuum runs on the task table, 0 when the server or the table has it off",
            value=int(stats["table"]["autovacuum"]),
        )
        optional = [
            ("taskqueue_oldest_transaction_seconds", stats["horizon"]["oldest_transaction_seconds"],
             "Age of the oldest transaction of another session that holds back vacuum"),
            ("taskqueue_oldest_transaction_xids", stats["horizon"]["oldest_transaction_xids"],
             "Transaction ids the oldest transaction of another session holds vacuum back by"),
            ("taskqueue_oldest_prepared_transaction_seconds",
             stats["horizon"]["oldest_prepared_transaction_seconds"],
             "Age of the oldest prepared transaction (it holds back vacuum too)"),
            ("taskqueue_replication_slot_xmin_age", stats["horizon"]["replication_slot_xmin_age"],
             "Transaction ids the oldest replication slot holds vacuum back by"),
            ("taskqueue_retention_behind_seconds", stats["retention"]["behind_seconds"],
             "How far past its cutoff the oldest finished task retention should have deleted is"),
            ("taskqueue_table_seconds_since_vacuum", stats["table"]["seconds_since_vacuum"],
             "Seconds since the task table was last vacuumed (auto or by hand)"),
        ]  # fmt: skip
        # Never vacuumed yet, no transaction holding anything: no sample rather than a made-up one.
        for name, value, text in optional:
            if value is not None:
                yield GaugeMetricFamily(name, text, value=value)
