"""Celery with Redis, when 127.0.0.1:6379 answers: one `celery worker` with its defaults
(prefork, a child per core, prefetch 4), no-op tasks sent one `delay()` at a time. There is no
table to gate, so the clock starts when the worker says ready and includes sending the tasks."""

import time

import redis

from workshop.bench.alternatives.common import WORKERS, python, row
from workshop.processes import wait_until

NAME = "Celery + Redis, prefork, 2 children"


def measure(count: int):
    from workshop.bench.alternatives.celery_app import BROKER, COUNTER, app, noop

    client = redis.Redis.from_url(BROKER, socket_connect_timeout=1)
    client.ping()  # no Redis: ConnectionError, and the row says skipped
    client.flushdb()
    worker = python(
        "celery", "-A", "workshop.bench.alternatives.celery_app", "worker",
        f"--concurrency={WORKERS}", "--loglevel=INFO", "--without-gossip", "--without-mingle",
    )  # fmt: skip
    try:
        worker.wait_for(r"ready\.", timeout=60)
        started = time.time()
        with app.producer_or_acquire() as producer:
            for _ in range(count):
                noop.apply_async(producer=producer)
        wait_until(lambda: int(client.get(COUNTER) or 0) >= count, timeout=600, what="celery")
        rate = count / (time.time() - started)
    finally:
        worker.stop()
    return row(NAME, rate, f"{count:,} tasks, sending included")
