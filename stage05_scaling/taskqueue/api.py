"""The HTTP entry points: enqueue a registered task, and read a task's status.

    POST /tasks/        {"task": "greet", "kwargs": {"name": "Ada"}}   -> 201 {"id": "42", ...}
                        the same again with a "key": its task (200), or 409 (keys.py)
    GET  /tasks/42/                                                     -> 200 {"status": ...}
    POST /tasks/42/cancel/                                              -> 202 {"status": ...}

Each needs a caller: a logged-in session (a browser, with Django's CSRF token on POST) or an
API token (`Authorization: Bearer <token>`, from `manage.py create_token`). A caller sees only
the tasks it enqueued; staff see all. A task that exists but is someone else's is a 404, like
one that does not exist, so ids cannot be probed. What a POST may carry, and the 400 for
everything else, is enqueue_request.py's.
"""

from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.tasks.exceptions import InvalidTask
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from taskqueue.backend import DJANGO_STATUS
from taskqueue.enqueue import InvalidArguments, enqueue
from taskqueue.enqueue_request import BadRequest, parse
from taskqueue.keys import KeyConflict
from taskqueue.models import ApiToken, Task
from taskqueue.retries import cancel


class Refused(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


def caller(request):
    """The user behind a request, or Refused (401, or 403 for a session POST without CSRF)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        # A token is not sent by browsers on their own, so it needs no CSRF check.
        user = ApiToken.user_for(header.removeprefix("Bearer ").strip())
        if user is None:
            raise Refused(401, "invalid API token")
        return user
    if not request.user.is_authenticated:
        raise Refused(401, "log in, or send an API token: Authorization: Bearer <token>")
    if request.method == "POST":
        # A cookie is sent by the browser whoever asks it to: check CSRF as Django's own views do.
        rejected = CsrfViewMiddleware(lambda request: None).process_view(request, None, (), {})
        if rejected is not None:
            raise Refused(403, "CSRF token missing or incorrect")
    return request.user


def refused(error: Refused) -> JsonResponse:
    response = JsonResponse({"error": error.message}, status=error.status)
    if error.status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


def describe(task: Task) -> dict:
    return {
        "id": str(task.pk),
        "task": task.name,
        "queue": task.queue_name,
        "priority": task.priority,
        "status": task.status,
        "django_status": DJANGO_STATUS[task.status],
        "attempts": task.attempts,
        "cancel_requested": task.cancel_requested_at is not None,
        "result": task.result,
        "error": task.error,
        "enqueued_at": task.created_at,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "url": reverse("task-status", args=[task.pk]),
    }


@csrf_exempt  # checked in caller(), for sessions only
@require_POST
def enqueue_task(request):
    try:
        user = caller(request)
    except Refused as error:
        return refused(error)
    try:
        wanted = parse(request.body)
        task = enqueue(
            wanted.task,
            wanted.kwargs,
            args=wanted.args,
            key=wanted.key,
            enqueued_by=user,
            **wanted.using,
        )
    except BadRequest as error:
        return JsonResponse({"error": str(error), "field": error.field}, status=400)
    except (InvalidArguments, InvalidTask) as error:
        return JsonResponse({"error": str(error), "field": "arguments"}, status=400)
    except KeyConflict as error:
        return JsonResponse({"error": str(error), "field": "key"}, status=409)
    # 200 for a key that found its task (keys.py): nothing new was enqueued.
    return JsonResponse(describe(task), status=201 if getattr(task, "enqueued_now", True) else 200)


def visible_to(user):
    return Task.objects.all() if user.is_staff else Task.objects.filter(enqueued_by=user)


@require_GET
def task_status(request, task_id: int):
    try:
        user = caller(request)
    except Refused as error:
        return refused(error)
    task = visible_to(user).filter(pk=task_id).first()
    if task is None:
        return JsonResponse({"error": f"no task {task_id} of yours"}, status=404)
    return JsonResponse(describe(task))


@csrf_exempt  # checked in caller(), for sessions only
@require_POST
def cancel_task(request, task_id: int):
    """Cancel a task: a queued one at once (200); a running one is asked to stop (202), and its
    worker's supervisor stops it within a second or two (supervisor.py); one that has
    finished already, 409."""
    try:
        user = caller(request)
    except Refused as error:
        return refused(error)
    tasks = visible_to(user).filter(pk=task_id)
    if not tasks.exists():
        return JsonResponse({"error": f"no task {task_id} of yours"}, status=404)
    cancelled = cancel(tasks)
    task = tasks.get()
    asked_already = task.status == Task.Status.IN_PROGRESS and task.cancel_requested_at
    if not cancelled and not asked_already:
        return JsonResponse({"error": "the task has finished: nothing to cancel"}, status=409)
    return JsonResponse(describe(task), status=200 if task.status == Task.Status.CANCELLED else 202)
