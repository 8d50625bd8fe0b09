"""The load scenario: each user enqueues a task over HTTP, then polls its status until it is
done, and reports the time from enqueue to done as a locust event named "enqueue to done".

`python manage.py loadtest` runs it headless against 1, 2 and 4 worker processes. By hand,
with the web server and workers running:

    LOCUST_TOKEN=$(python manage.py create_token loadtest --create-user) \\
        locust -f locustfile.py --host http://127.0.0.1:8000

LOCUST_TASK_MS sets how long each task works (default 50 ms, a sleep, as an API call would).
"""

import os
import time

from locust import HttpUser, constant, task

TOKEN = os.environ.get("LOCUST_TOKEN", "")
# Behind a TLS proxy the app expects to be told the request came over TLS (docker compose).
FORWARDED_PROTO = os.environ.get("LOCUST_FORWARDED_PROTO", "")
TASK_MS = int(os.environ.get("LOCUST_TASK_MS", "50"))
TIMEOUT = 60  # seconds a task may take from enqueue to done before it counts as a failure


class Enqueuer(HttpUser):
    wait_time = constant(0)  # the next task as soon as the last is done: a closed loop

    def on_start(self):
        self.client.headers["Authorization"] = f"Bearer {TOKEN}"
        if FORWARDED_PROTO:
            self.client.headers["X-Forwarded-Proto"] = FORWARDED_PROTO

    @task
    def enqueue_and_wait(self):
        started = time.perf_counter()
        response = self.client.post(
            "/tasks/", json={"task": "wait_for_api", "kwargs": {"ms": TASK_MS}}, name="/tasks/"
        )
        if response.status_code != 201:
            return  # locust already counts it as a failed request
        url = response.json()["url"]
        error = None
        while True:
            status = self.client.get(url, name="/tasks/[id]/").json().get("status")
            if status == "DONE":
                break
            if status in ("FAILED", "DEAD", "CANCELLED") or time.perf_counter() - started > TIMEOUT:
                error = RuntimeError(f"task ended {status}")
                break
            time.sleep(0.01)  # gevent's sleep: other users run meanwhile
        self.environment.events.request.fire(
            request_type="TASK",
            name="enqueue to done",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )
