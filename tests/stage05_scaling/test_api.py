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


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ("{not json", None, "the body is not valid JSON"),
        (b"\xff\xfe", None, "not UTF-8"),
        ('["greet"]', None, "send a JSON object like"),
        ({"kwargs": {}}, "task", "required: the name of a task"),
        ({"task": ["greet"]}, "task", "required: the name of a task"),
        ({"task": "os.system", "args": ["rm -rf /"]}, "task", "unknown task 'os.system'"),
        ({"task": "crash_worker"}, "task", "unknown task 'crash_worker'"),  # not allowed
        ({"task": "hold_the_gil"}, "task", "unknown task 'hold_the_gil'"),
        ({"task": "pretend_work", "kwargs": {"ms": 10**9}}, "task", "unknown task"),
        ({"task": "greet", "prioirty": 5}, "prioirty", "no such field"),
        ({"task": "greet", "kwargs": ["Ada"]}, "kwargs", "must be an object, not a list"),
        ({"task": "greet", "args": {"a": 1}}, "args", "must be a list, not an object"),
        ({"task": "greet", "kwargs": {"nme": "Ada"}}, "arguments", "do not fit greet"),
        ({"task": "greet", "kwargs": {"name": "x" * 70_000}}, "arguments", "over the limit"),
        ('{"task": "greet", "kwargs": {"name": NaN}}', "kwargs", "NaN is not a JSON number"),
        ('{"task": "greet", "args": [Infinity]}', "args", "Infinity is not a JSON number"),
        ('{"task": "greet", "args": [' + "9" * 5000 + "]}", "args", "5,000 digits"),
        ('{"task": "greet", "priority": ' + "9" * 101 + "}", "priority", "101 digits"),
        ('{"task": "greet", "args": [1e5000]}', "arguments", "NaN and Infinity"),
        ('{"task": "greet", "args": ' + DEEP + "}", None, "nested too deeply"),
        ({"task": "greet", "args": [[[[[[[[[[]]]]]]]]]] * 1}, None, None),  # 10 deep is fine
        ({"task": "greet", "key": "k" * 201}, "key", "1 to 200 characters"),
        ({"task": "greet", "key": ""}, "key", "1 to 200 characters"),
        ({"task": "greet", "key": {"id": 1}}, "key", "must be a string, not an object"),
        ({"task": "greet", "key": ["a"]}, "key", "must be a string, not a list"),
        ({"task": "greet", "priority": 500}, "priority", "whole number from -100 to 100"),
        ({"task": "greet", "priority": "5"}, "priority", "whole number from -100 to 100"),
        ({"task": "greet", "priority": True}, "priority", "whole number from -100 to 100"),
        ({"task": "greet", "priority": 1.5}, "priority", "whole number from -100 to 100"),
        ({"task": "greet", "queue": "reports"}, "queue", "must be one of: default, emails"),
        ({"task": "greet", "queue": ["default"]}, "queue", "must be one of"),
        ({"task": "greet", "queue": {}}, "queue", "must be one of"),
        ({"task": "greet", "run_after": "garbage"}, "run_after", "not an ISO 8601 date"),
        ({"task": "greet", "run_after": "2026-12-01T09:00"}, "run_after", "needs a time zone"),
        ({"task": "greet", "run_after": 1764579600}, "run_after", "must be a date and time"),
    ],
)
def test_bad_input_is_a_400_that_names_the_field_and_writes_nothing(token, body, field, message):
    response = post(Client(), body, **bearer(token))

    if message is None:  # the control: a valid body among the bad ones
        assert response.status_code == 201
        return
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert response.json()["field"] == field
    if field:
        assert response.json()["error"].startswith(field)
    assert Task.objects.count() == 0


def test_run_after_is_honoured_when_it_is_an_aware_date_and_time(token):
    later = post(
        Client(), {"task": "noop", "run_after": "2099-01-01T00:00:00+01:00"}, **bearer(token)
    )
    past = post(Client(), {"task": "noop", "run_after": "2000-01-01T00:00:00Z"}, **bearer(token))

    assert (later.status_code, past.status_code) == (201, 201)
    assert Task.objects.get(pk=later.json()["id"]).run_after.year == 2098  # 23:00 UTC
    Worker(burst=True).run()
    assert Task.objects.get(pk=past.json()["id"]).status == "DONE"  # due: runs now
    assert Task.objects.get(pk=later.json()["id"]).status == "QUEUED"


def test_an_idempotency_key_belongs_to_its_owner_and_its_task(token, alice):
    bob = ApiToken.issue(get_user_model().objects.create_user("bob"), "tests")
    client = Client()
    alices = post(client, {"task": "greet", "kwargs": {"name": "AliceSecret"}, "key": "invoice-1"},
                  **bearer(token)).json()  # fmt: skip
    Worker(burst=True).run()

    bobs = post(client, {"task": "greet", "kwargs": {"name": "Bob"}, "key": "invoice-1"},
                **bearer(bob))  # fmt: skip
    other_task = post(client, {"task": "noop", "key": "invoice-1"}, **bearer(token))

    assert bobs.status_code == 201
    assert bobs.json()["id"] != alices["id"]
    assert "AliceSecret" not in bobs.content.decode()
    assert other_task.json()["id"] not in (alices["id"], bobs.json()["id"])
    assert Task.objects.count() == 3
    again = post(client, {"task": "greet", "kwargs": {"name": "AliceSecret"}, "key": "invoice-1"},
                 **bearer(token))  # fmt: skip
    assert (again.status_code, again.json()["id"]) == (200, alices["id"])  # the owner's own key
    other = post(client, {"task": "greet", "kwargs": {"name": "x"}, "key": "invoice-1"},
                 **bearer(token))  # fmt: skip
    assert (other.status_code, other.json()["field"]) == (409, "key")  # not passed off as it


def test_cancel_over_http_stops_a_queued_task_and_refuses_someone_else_s(token):
    mallory = ApiToken.issue(get_user_model().objects.create_user("mallory"), "tests")
    client = Client()
    task_id = post(client, {"task": "noop"}, **bearer(token)).json()["id"]

    assert client.post(f"/tasks/{task_id}/cancel/", headers=bearer(mallory)).status_code == 404
    cancelled = client.post(f"/tasks/{task_id}/cancel/", headers=bearer(token))
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "CANCELLED")
    assert client.post(f"/tasks/{task_id}/cancel/", headers=bearer(token)).status_code == 409


def test_an_idempotency_key_over_http_enqueues_once(token):
    client = Client()
    first = post(client, {"task": "noop", "key": "order-7"}, **bearer(token))
    again = post(client, {"task": "noop", "key": "order-7"}, **bearer(token))

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Task.objects.count() == 1


def test_create_token_prints_a_token_that_works():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_token", "loadtest", "--create-user", stdout=out)
    token = out.getvalue().strip()

    assert post(Client(), {"task": "noop"}, **bearer(token)).status_code == 201
    assert ApiToken.objects.get().digest != token  # only the hash is stored


def test_an_expired_token_is_refused_and_a_used_one_shows_when(alice):
    from datetime import timedelta

    expired = ApiToken.issue(alice, "old", expires_in=timedelta(seconds=-1))
    fresh = ApiToken.issue(alice, "new", expires_in=timedelta(days=1))

    assert post(Client(), {"task": "noop"}, **bearer(expired)).status_code == 401
    assert post(Client(), {"task": "noop"}, **bearer(fresh)).status_code == 201
    used = ApiToken.objects.get(name="new")
    assert used.last_used_at is not None
    assert ApiToken.objects.get(name="old").last_used_at is None


def test_tokens_lists_and_revokes():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_token", "ops", "--create-user", "--name", "deploy", stdout=out)
    token = out.getvalue().strip()
    listing = StringIO()
    call_command("tokens", stdout=listing)
    assert "deploy" in listing.getvalue() and token not in listing.getvalue()

    call_command("tokens", "revoke", str(ApiToken.objects.get().pk), stdout=StringIO())

    assert post(Client(), {"task": "noop"}, **bearer(token)).status_code == 401
