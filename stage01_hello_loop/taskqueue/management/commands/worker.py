"""`python manage.py worker`: the whole idea of a background worker, in one loop.

Do the work, sleep, repeat. Django gives us settings, logging and the ORM for free, and a
management command runs anywhere Django runs: a terminal, systemd, a container.
"""

import time

from django.core.management.base import BaseCommand
from django.utils import timezone

from taskqueue.work import do_the_work

# The loop sleeps through this name, so a test can replace it and not wait an hour.
sleep = time.sleep


class Command(BaseCommand):
    help = "Do the work, then sleep; forever, or --iterations times."

    def add_arguments(self, parser):
        parser.add_argument(
            "--interval", type=float, default=3600, help="seconds between runs (default: 3600)"
        )
        parser.add_argument(
            "--iterations", type=int, default=None, help="stop after N runs (default: never)"
        )

    def handle(self, *, interval, iterations, **options):
        runs = 0
        try:
            while iterations is None or runs < iterations:
                result = do_the_work()
                runs += 1
                self.stdout.write(f"{timezone.now():%H:%M:%S} {result}")
                if iterations is None or runs < iterations:
                    sleep(interval)
        except KeyboardInterrupt:
            # Ctrl-C is how a learner stops this loop: say goodbye, not a traceback.
            self.stdout.write(f"Stopped by Ctrl-C after {runs} run(s). Bye!")
