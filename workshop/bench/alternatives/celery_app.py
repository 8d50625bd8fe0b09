"""The Celery app for the benchmark: Redis as broker, no result backend (its default); the
no-op counts itself in Redis, the only way to see from outside that the queue is done."""

import redis
from celery import Celery

BROKER = "redis://127.0.0.1:6379/15"  # a database number of its own on the shared Redis
COUNTER = "bench:celery:done"
app = Celery("bench", broker=BROKER)
counter = redis.Redis.from_url(BROKER)


@app.task(name="noop", ignore_result=True)
def noop():
    counter.incr(COUNTER)
