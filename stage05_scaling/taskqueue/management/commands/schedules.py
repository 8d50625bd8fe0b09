"""`python manage.py schedules`: each schedule, its last tick and what came of it, its next."""

from django.core.management.base import BaseCommand

from taskqueue import dbtime
from taskqueue.models import ScheduledTick, Task
from taskqueue.schedules import configured


class Command(BaseCommand):
    help = "The schedules of TASKQUEUE_SCHEDULES: last tick and its task, next tick."

    def handle(self, **_):
        schedules = configured()
        if not schedules:
            self.stdout.write("No schedules: TASKQUEUE_SCHEDULES is empty.")
        now = dbtime.now()
        for schedule in schedules:
            last = ScheduledTick.objects.filter(schedule=schedule.name).order_by("-tick").first()
            self.stdout.write(f"{schedule.name}: {schedule.task}, {schedule.describe()}")
            if last:
                self.stdout.write(f"  last tick  {local(last.tick, schedule)}  {outcome(last)}")
            else:
                self.stdout.write("  last tick  none yet")
            self.stdout.write(f"  next tick  {local(schedule.next_tick(now), schedule)}")


def local(moment, schedule) -> str:
    """A tick as the schedule's time zone tells it: 02:30 CET, 02:30 CEST."""
    return f"{moment.astimezone(schedule.timezone):%Y-%m-%d %H:%M:%S %Z}"


def outcome(tick: ScheduledTick) -> str:
    if tick.task_id is None:
        return f"skipped: {tick.skipped}"
    task = Task.objects.filter(pk=tick.task_id).first()
    if task is None:
        return f"task {tick.task_id}, since pruned"
    return f"task {task.pk}, {task.status}" + (f": {task.result!r}" if task.result else "")
