"""Stage 5's HTTP entry points: enqueue and status need a caller (session with CSRF, or an API
token), a caller sees only its own tasks, and bad input is a 400 that writes nothing."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from taskqueue.models import ApiToken, Task
from taskqueue.worker import Worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", password="secret-alice")


@pytest.fixture
def token(alice):
    return ApiToken.issue(alice, "tests")


def post(client, body, **headers):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post("/tasks/", data, content_type="application/json", headers=headers)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_enqueues_and_reads_its_task_until_done(token):
    client = Client()

    created = post(client, {"task": "greet", "kwargs": {"name": "Ada"}}, **bearer(token))

    assert created.status_code == 201
    body = created.json()
    assert (body["task"], body["status"], body["django_status"]) == (
        "taskqueue.tasks.greet",
        "QUEUED",
        "READY",
    )
    Worker(burst=True).run()
    status = client.get(body["url"], headers=bearer(token))
    assert status.status_code == 200
    assert (status.json()["status"], status.json()["result"]) == ("DONE", "Hello, Ada!")
    assert Task.objects.get(pk=body["id"]).enqueued_by.username == "alice"


def test_without_a_caller_nothing_is_enqueued_or_shown():
    client = Client()
    task = Task.objects.create(name="taskqueue.tasks.noop")

    refused = post(client, {"task": "noop"})

    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == "Bearer"
    assert post(client, {"task": "noop"}, **bearer("not-a-token")).status_code == 401
    assert client.get(f"/tasks/{task.pk}/").status_code == 401
    assert Task.objects.count() == 1


def test_a_session_must_send_the_csrf_token_to_enqueue(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    assert post(client, {"task": "noop"}).status_code == 403
    client.get("/admin/login/")  # any page that sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    assert post(client, {"task": "noop"}, **{"X-CSRFToken": csrf}).status_code == 201
    assert Task.objects.count() == 1


def test_a_caller_sees_its_own_tasks_only_and_staff_see_all(token):
    users = get_user_model().objects
    mallory = ApiToken.issue(users.create_user("mallory"), "tests")
    staff = ApiToken.issue(users.create_user("ops", is_staff=True), "tests")
    client = Client()
    task_id = post(client, {"task": "noop"}, **bearer(token)).json()["id"]

    assert client.get(f"/tasks/{task_id}/", headers=bearer(mallory)).status_code == 404
    assert client.get("/tasks/999999/", headers=bearer(mallory)).status_code == 404  # the same
    assert client.get(f"/tasks/{task_id}/", headers=bearer(staff)).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "the body is not valid JSON"),
        ('["greet"]', "send a JSON object like"),
        ({"kwargs": {}}, "send a JSON object like"),
        ({"task": "os.system", "args": ["rm -rf /"]}, "unknown task 'os.system'"),
        ({"task": "greet", "kwargs": ["Ada"]}, "kwargs must be a dict"),
        ({"task": "greet", "kwargs": {"name": "x" * 70_000}}, "over the limit of 65536"),
        ({"task": "greet", "priority": 500}, "priority must be a whole number"),
        ({"task": "greet", "priority": "high"}, "not supported between"),
        ({"task": "greet", "queue": "reports"}, "Queue 'reports' is not valid for backend"),
    ],
)
def test_bad_input_is_a_400_with_a_clear_message_and_writes_nothing(token, body, message):
    response = post(Client(), body, **bearer(token))

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert Task.objects.count() == 0


def test_an_idempotency_key_over_http_enqueues_once(token):
    client = Client()
    first = post(client, {"task": "noop", "key": "order-7"}, **bearer(token)).json()
    again = post(client, {"task": "noop", "key": "order-7"}, **bearer(token)).json()

    assert first["id"] == again["id"]
    assert Task.objects.count() == 1


def test_create_token_prints_a_token_that_works():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_token", "loadtest", "--create-user", stdout=out)
    token = out.getvalue().strip()

    assert post(Client(), {"task": "noop"}, **bearer(token)).status_code == 201
    assert ApiToken.objects.get().digest != token  # only the hash is stored
