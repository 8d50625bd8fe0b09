"""PgBouncer in transaction pooling, in front of the server the tests use: Debian's `pgbouncer`
(`apt-get install pgbouncer`; `make pooler` does it), started once per test session on a free
port. What a production deployment of many web and worker processes puts between them and
PostgreSQL: each transaction may run on another server connection, so a session's state (a
LISTEN, a prepared statement, a SET) does not follow the client.

`pooled_env` is the environment that points a child process (a worker, `manage.py enqueue`) at
the test's database through it. Without pgbouncer those tests are skipped with that instruction,
except where WORKSHOP_REQUIRE_POOLER is set (`.ci/run` sets it): there it is a failure.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from workshop.processes import free_port, wait_until

PGBOUNCER = "pgbouncer"
# As PgBouncer comes: a client that sends startup `options` (a session's settings, which cannot
# follow it from one server connection to the next) is refused.
CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
ignore_startup_parameters = extra_float_digits
"""


def server_address() -> tuple[str, int]:
    """Where the test database's server listens: a host, or the socket folder of the embedded
    one, and a port."""
    from django.db import connection

    connection.ensure_connection()
    info = connection.connection.info
    return info.host, info.port


def run_as(host: str) -> list[str]:
    """PgBouncer refuses to run as root: as root, run it as the owner of the server's socket
    folder (who may open the socket), or as `nobody` for a server on TCP."""
    if os.geteuid() != 0:
        return []
    owner = pwd.getpwuid(os.stat(host).st_uid).pw_name if host.startswith("/") else "nobody"
    return ["-u", owner]


@pytest.fixture(scope="session")
def pgbouncer(django_db_setup, django_db_blocker):
    """A running PgBouncer; yields its port."""
    binary = shutil.which(PGBOUNCER) or shutil.which(f"/usr/sbin/{PGBOUNCER}")
    if binary is None:
        message = "needs Debian's pgbouncer: apt-get install pgbouncer (make pooler)"
        if os.environ.get("WORKSHOP_REQUIRE_POOLER"):
            pytest.fail(message)
        pytest.skip(message)
    with django_db_blocker.unblock():
        host, port = server_address()
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    folder.chmod(0o755)
    listen = free_port()
    (folder / "users.txt").write_text('"postgres" ""\n')
    config = folder / "pgbouncer.ini"
    config.write_text(CONFIG.format(host=host, port=port, listen=listen, folder=folder))
    for path in folder.iterdir():
        path.chmod(0o644)
    log = (folder / "pgbouncer.log").open("w")
    bouncer = subprocess.Popen([binary, *run_as(host), str(config)], stdout=log, stderr=log)
    try:
        wait_until(
            lambda: answers(listen) or bouncer.poll() is not None, timeout=10, what="pgbouncer"
        )
        if bouncer.poll() is not None:
            pytest.fail(f"pgbouncer did not start: {(folder / 'pgbouncer.log').read_text()}")
        yield listen
    finally:
        bouncer.terminate()
        bouncer.wait(timeout=10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def pooled_env(pgbouncer, test_db_env):
    """Environment that points a child process at this test's database through PgBouncer, as
    a transaction pooler asks: no server-side cursors, and so no prepared statements (db.py)."""
    url = f"postgres://postgres@127.0.0.1:{pgbouncer}/postgres?disable_server_side_cursors=true"
    return {**test_db_env, "DATABASE_URL": url}
