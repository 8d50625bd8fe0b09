"""`python -m workshop.web_burst [--clients 1000] [--save FILE]`: what stage 5's web tier holds
when many clients POST /tasks/ at the same instant.

Stage 5 is served as docker-compose.yml serves it (gunicorn, 2 sync workers); N threads wait
at a barrier and then each sends one POST with an API token. It prints how the answers came
back (status codes, seconds until the last, p50 and p99) and checks the table: every 201 is a
task, nothing else was written. Needs no worker: the tasks stay queued (and are deleted after).
"""

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

import psycopg

from workshop import REPO_ROOT
from workshop.database import server_url
from workshop.processes import run_manage, web_server

STAGE = "stage05_scaling"


def post(url: str, token: str, key: str) -> tuple[int, float]:
    request = urllib.request.Request(
        f"{url}/tasks/",
        data=json.dumps({"task": "noop", "key": key}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError:
        status = 0  # refused or reset: no answer at all
    return status, time.perf_counter() - started


def burst(url: str, token: str, clients: int, run: str) -> tuple[Counter, list[float], float]:
    barrier = threading.Barrier(clients + 1)
    results: list[tuple[int, float]] = [(0, 0.0)] * clients

    def client(index: int) -> None:
        barrier.wait()
        results[index] = post(url, token, f"{run}-{index}")

    threads = [threading.Thread(target=client, args=[i], daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return Counter(status for status, _ in results), [seconds for _, seconds in results], elapsed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--save", metavar="FILE", help="also write the result to FILE")
    options = parser.parse_args(argv)
    run_manage(STAGE, "migrate", "-v0")
    token = run_manage(STAGE, "create_token", "web-burst", "--create-user").strip()
    run = f"burst-{uuid.uuid4().hex[:8]}"
    with web_server(REPO_ROOT / STAGE, workers=2) as url:
        statuses, seconds, elapsed = burst(url, token, options.clients, run)
    with psycopg.connect(server_url(STAGE), autocommit=True) as conn:
        (written,) = conn.execute(
            "SELECT count(*) FROM taskqueue_task WHERE idempotency_key LIKE %s", [f"{run}-%"]
        ).fetchone()
        conn.execute("DELETE FROM taskqueue_task WHERE idempotency_key LIKE %s", [f"{run}-%"])
    percentiles = statistics.quantiles(seconds, n=100)
    p50, p99 = percentiles[49], percentiles[98]
    answers = ", ".join(f"{n:,} x {status or 'no answer'}" for status, n in statuses.items())
    lines = [
        f"`python -m workshop.web_burst`, {date.today()}: stage 5 under gunicorn, 2 workers",
        f"{options.clients:,} POST /tasks/ at the same instant",
        f"answers                  {answers}",
        f"last answer after        {elapsed:.1f} s",
        f"time to answer p50, p99  {p50:.2f} s, {p99:.2f} s",
        f"tasks in the table       {written:,} (one per 201)",
    ]
    print("\n".join(lines))
    if options.save:
        Path(options.save).write_text("\n".join(lines) + "\n")
    return 0 if written == statuses.get(201, 0) and 0 not in statuses else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
