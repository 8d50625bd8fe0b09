"""`python manage.py queue_stats [--json]`: the queue's numbers, as the health endpoint has them."""

import json

from django.core.management.base import BaseCommand

from taskqueue.stats import queue_stats


class Command(BaseCommand):
    help = (
        "Depth by queue and status, oldest waiting task, throughput, dead rows of the table,"
        " what holds back vacuum, and the warnings they call for."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print JSON, for scripts"
        )

    def handle(self, *, as_json: bool, **_):
        stats = queue_stats()
        if as_json:
            self.stdout.write(dumps(stats))
            return
        statuses = sorted({status for counts in stats["by_queue"].values() for status in counts})
        self.print_table(
            "Tasks by queue and status",
            ["queue", *statuses],
            [
                [queue, *(counts.get(status, 0) for status in statuses)]
                for queue, counts in sorted(stats["by_queue"].items())
            ],
        )
        table, horizon = stats["table"], stats["horizon"]
        self.print_table(
            "The queue now",
            ["", "value"],
            [
                [
                    "finished per second, the latest 1,000 of the last minute",
                    stats["tasks_per_second"],
                ],
                ["oldest due task waiting, s", stats["oldest_queued_seconds"]],
                ["claimed in a batch, not started", stats["claimed_not_started"]],
                ["dead rows in the table (vacuum pending)", table["dead_rows"]],
                ["live rows in the table", table["live_rows"]],
                ["seconds since the last vacuum", table["seconds_since_vacuum"]],
                ["oldest transaction holding vacuum, s", horizon["oldest_transaction_seconds"]],
                ["retention behind its cutoff, s", stats["retention"]["behind_seconds"]],
            ],
        )
        self.stdout.write(f"\nVerdict: {stats['status']}")
        for warning in stats["warnings"]:
            self.stdout.write(f"  warning: {warning}")

    def print_table(self, title: str, columns: list[str], rows: list[list[object]]) -> None:
        """Plain text: the first column aligned left, the numbers right, as `psql` prints them."""
        cells = [columns, *([str(cell) for cell in row] for row in rows)]
        widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]

        def line(row: list[str]) -> str:
            first, *rest = (
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
            return " | ".join([first, *rest]).rstrip()

        self.stdout.write(f"\n{title}")
        self.stdout.write(line(columns))
        self.stdout.write("-+-".join("-" * width for width in widths))
        for row in cells[1:]:
            self.stdout.write(line(row))


def dumps(stats: dict) -> str:
    return json.dumps(stats, indent=2, sort_keys=True)
