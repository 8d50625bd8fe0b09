"""The queue's web pages: health (JSON), metrics (Prometheus), and the dashboard.

Health and metrics show counts only, never a task's arguments or errors, so a load balancer or
a Prometheus server can read them without logging in. The dashboard is for staff: it reads
(dashboard.py), and its only writes are four POST actions, CSRF-checked, that do what the
admin's actions and `manage.py queues` do: pause and resume a queue, retry and cancel a task.
Everything read from the queue goes through Django's templates, escaped: a task's arguments
and errors are text that anyone who can enqueue chooses.
"""

import json

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.tasks import default_task_backend
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from taskqueue import dashboard as panels
from taskqueue.metrics import QueueCollector
from taskqueue.models import Task
from taskqueue.pause import pause, resume
from taskqueue.retries import cancel, requeue
from taskqueue.stats import pressure, queue_stats

registry = CollectorRegistry()
registry.register(QueueCollector())


@require_GET
@never_cache
def health(request):
    """200 with the queue's numbers and a verdict, "ok" or "warning" (the warnings say what
    comes: stats.pressure), or 503 when the database does not answer."""
    try:
        stats = queue_stats()
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "reason": "database unreachable"}, status=503)
    return JsonResponse(stats)


@require_GET
@never_cache
def metrics(request):
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


TASKS_SHOWN = 50


@staff_member_required
@require_GET
@never_cache
def dashboard(request):
    """The overview: queues, charts, workers, failures. `?panels=1`: the panels alone, which
    the page fetches every few seconds to stay current."""
    live, gone = panels.workers()
    now = timezone.now()
    context = {
        "queues": panels.queues(sorted(default_task_backend.queues)),
        "charts": panels.history(now),
        "workers": live,
        "gone": gone,
        "failures": panels.failures(),
        "warnings": pressure()["warnings"],  # what comes before the queue slows down
        "now": now,
        "back": reverse("dashboard"),  # where the panels' buttons return to
    }
    if request.GET.get("panels"):
        return render(request, "taskqueue/panels.html", context)
    return render(request, "taskqueue/dashboard.html", context)


@staff_member_required
@require_GET
@never_cache
def queue_tasks(request, name: str):
    """A queue's latest tasks, newest first, optionally of one status."""
    tasks = Task.objects.filter(queue_name=name).order_by("-id")
    status = request.GET.get("status", "")
    if status in Task.Status.values:
        tasks = tasks.filter(status=status)
    fields = ["id", "name", "status", "priority", "attempts", "run_after", "finished_at", "error"]
    return render(
        request,
        "taskqueue/queue.html",
        {
            "name": name,
            "status": status,
            "statuses": Task.Status.values,
            "tasks": tasks.only(*fields)[:TASKS_SHOWN],
            "shown": TASKS_SHOWN,
            "back": request.get_full_path(),
        },
    )


@staff_member_required
@require_GET
@never_cache
def task_page(request, task_id: int):
    """One task's story: what it was asked, every attempt, how it ended."""
    task = get_object_or_404(Task, pk=task_id)
    context = {
        "task": task,
        "attempts": panels.attempts(task),
        "shown": {
            name: json.dumps(getattr(task, name), indent=2) for name in ("args", "kwargs", "result")
        },
        "back": request.get_full_path(),
    }
    return render(request, "taskqueue/task.html", context)


@staff_member_required
@require_GET
def find_task(request):
    """The search box: a task's id, to its page."""
    wanted = request.GET.get("id", "").strip().lstrip("#")
    if wanted.isdigit() and Task.objects.filter(pk=int(wanted)).exists():
        return redirect("dashboard-task", task_id=int(wanted))
    messages.error(request, f"No task with id {wanted!r}.")
    return redirect("dashboard")


def back(request):
    """Where an action returns to: the page it came from, if it is ours."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(reverse("dashboard"))


@staff_member_required
@require_POST
def queue_action(request, name: str, action: str):
    if action == "pause":
        pause(name, by=request.user.get_username())
        messages.success(request, f"Queue {name} paused: workers stop claiming from it.")
    else:
        resume(name)
        messages.success(request, f"Queue {name} resumed.")
    return back(request)


@staff_member_required
@require_POST
def task_action(request, task_id: int, action: str):
    tasks = Task.objects.filter(pk=task_id)
    if action == "retry":
        done = requeue(tasks)
        text = "re-queued" if done else "not re-queued (only FAILED, DEAD or CANCELLED tasks are)"
    else:
        done = cancel(tasks)
        text = "cancelled" if done else "not cancelled (it has finished)"
    (messages.success if done else messages.warning)(request, f"Task {task_id} {text}.")
    return back(request)
