"""The queue's read-only web pages: health (JSON), metrics (Prometheus), and a live dashboard.

Health and metrics show counts only, never a task's arguments or errors, so a load balancer or
a Prometheus server can read them without logging in. The dashboard is for staff.
"""

from django.contrib.admin.views.decorators import staff_member_required
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from taskqueue.metrics import QueueCollector
from taskqueue.stats import queue_stats

registry = CollectorRegistry()
registry.register(QueueCollector())


@require_GET
@never_cache
def health(request):
    """200 with the queue's numbers, or 503 when the database does not answer."""
    try:
        stats = queue_stats()
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "reason": "database unreachable"}, status=503)
    return JsonResponse({"status": "ok", **stats})


@require_GET
@never_cache
def metrics(request):
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


@staff_member_required
@require_GET
def dashboard(request):
    return render(request, "taskqueue/dashboard.html")
