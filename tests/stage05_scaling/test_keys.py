"""An idempotency key's life (keys.py): held while its task is queued or running and for a
window after it ended DONE, freed at once by FAILED, DEAD and CANCELLED, never passed off as
another request's, and never in the way of deleting a user."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from taskqueue.enqueue import enqueue
from taskqueue.keys import KeyConflict
from taskqueue.models import Task
from taskqueue.retention import prune

pytestmark = pytest.mark.django_db(transaction=True)


def ended(task, status: str, hours_ago: float) -> None:
    finished_at = timezone.now() - timedelta(hours=hours_ago)
    Task.objects.filter(pk=task.pk).update(status=status, finished_at=finished_at)


def test_a_done_task_keeps_its_key_through_retention_for_the_window(settings):
    settings.TASKQUEUE_KEY_WINDOW_HOURS = 24
    first = enqueue("send_welcome_email", {"user_id": 7}, key="welcome:7")
    ended(first, "DONE", hours_ago=2)

    prune(60)  # retention of a minute: every other finished task would go

    again = enqueue("send_welcome_email", {"user_id": 7}, key="welcome:7")
    assert (again.pk, again.enqueued_now) == (first.pk, False)


def test_after_the_window_the_same_key_enqueues_anew(settings):
    settings.TASKQUEUE_KEY_WINDOW_HOURS = 24
    first = enqueue("send_welcome_email", {"user_id": 7}, key="welcome:7")
    ended(first, "DONE", hours_ago=25)

    again = enqueue("send_welcome_email", {"user_id": 7}, key="welcome:7")

    assert again.pk != first.pk and again.enqueued_now
    first.refresh_from_db()
    assert first.idempotency_key is None  # the new task took the key over


@pytest.mark.parametrize("status", ["FAILED", "DEAD", "CANCELLED"])
def test_a_task_that_did_not_succeed_frees_its_key_at_once(status):
    first = enqueue("send_welcome_email", {"user_id": 7}, key="welcome:7")
    ended(first, status, hours_ago=0)

    again = enqueue("send_welcome_email", {"user_id": 7}, key="welcome:7")

    assert again.pk != first.pk and again.enqueued_now


def test_the_same_key_with_other_arguments_is_refused():
    first = enqueue("send_welcome_email", {"user_id": 7}, key="welcome:7")

    with pytest.raises(KeyConflict, match=f"belongs to task {first.pk}"):
        enqueue("send_welcome_email", {"user_id": 8}, key="welcome:7")

    assert Task.objects.count() == 1


def test_deleting_a_user_keeps_their_tasks_and_frees_their_keys():
    user = get_user_model().objects.create_user("leaving")
    theirs = enqueue("send_welcome_email", {"user_id": 7}, key="welcome:7", enqueued_by=user)
    code = enqueue("send_welcome_email", {"user_id": 7}, key="welcome:7")  # no owner: code's
    assert code.pk != theirs.pk

    user.delete()

    theirs.refresh_from_db()
    assert (theirs.enqueued_by, theirs.idempotency_key) == (None, None)
    assert Task.objects.filter(pk=code.pk, idempotency_key="welcome:7").exists()
