"""Which PostgreSQL a stage talks to.

- `DATABASE_URL` set (docker compose, a managed database, the machine's own server): that server
  and those credentials; `?disable_server_side_cursors=true` says a transaction pooler is in
  between (PgBouncer).
- Otherwise the embedded PostgreSQL 18 from `workshop.embedded`, started on first connection.

Either way each stage gets its own database, named after the stage folder (`stage02_db_queue`),
created on first connection, so stages never see each other's rows. `WORKSHOP_DB_NAME` overrides
the name: the tests use it to point real worker processes at pytest's test database.

Run as `python -m workshop.database start|stop|status|url [DB]|psql [DB]` (`make db`, `make
db-stop`, `make db-url`, `make psql`): `url` and `psql` follow DATABASE_URL like everything else.
"""

import os
import subprocess
import sys

import dj_database_url

ENGINE = "workshop.postgres"


def database_settings(stage: str, name: str | None = None) -> dict:
    """The `DATABASES["default"]` entry for a stage; with `name`, an entry for another database
    of the same server (stage 5 can keep its queue in one)."""
    name = name or os.environ.get("WORKSHOP_DB_NAME") or stage
    url = os.environ.get("DATABASE_URL")
    if url:
        config = dj_database_url.parse(url)
        # The URL's own database is where we connect to create the stage's database.
        config.update(ENGINE=ENGINE, SERVER_DB=config["NAME"] or "postgres", NAME=name)
        # `?disable_server_side_cursors=true`: a transaction pooler (PgBouncer) is in between,
        # which Django must know (and stage 5's worker reads as "no LISTEN, no prepared
        # statements"). It is Django's setting, not a libpq option.
        pooled = str(config.get("OPTIONS", {}).pop("disable_server_side_cursors", "")).lower()
        config["DISABLE_SERVER_SIDE_CURSORS"] = pooled in ("true", "1", "on", "yes")
    else:
        config = {"ENGINE": ENGINE, "NAME": name, "USER": "postgres", "EMBEDDED": True}
        config["SERVER_DB"] = "postgres"
    # Workers are long-running: keep their connection, but check it is alive before reuse.
    config.update(CONN_MAX_AGE=None, CONN_HEALTH_CHECKS=True)
    return config


def server_url(database: str | None = None) -> str:
    """A libpq URL for `psql` and scripts: DATABASE_URL's server, or the embedded one."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        from workshop import embedded

        return embedded.ensure_running().url(database or "postgres")
    if database is None:
        return url
    config = dj_database_url.parse(url)
    auth = config["USER"] + (f":{config['PASSWORD']}" if config["PASSWORD"] else "")
    port = f":{config['PORT']}" if config["PORT"] else ""
    return f"postgresql://{auth}@{config['HOST']}{port}/{database}"


def drop_database(name: str) -> None:
    """Drop `name` on the stages' server if it exists, its open sessions ended first (FORCE)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_url("postgres"), autocommit=True) as connection:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        connection.execute(drop)


def main(argv: list[str]) -> int:
    from workshop import embedded

    command = argv[0] if argv else "status"
    if command == "start":
        server = embedded.ensure_running()
        print(f"embedded PostgreSQL is running: {server.url()}")
    elif command == "stop":
        print("stopped" if embedded.stop() else "embedded PostgreSQL was not running")
    elif command == "url":
        print(server_url(*argv[1:2]))
    elif command == "status":
        server = embedded.running()
        print(f"running: {server.url()}" if server else "not running")
    elif command == "psql":
        return subprocess.call([str(embedded.program("psql")), server_url(*argv[1:2])])
    else:
        print("usage: python -m workshop.database start|stop|url [DB]|status|psql [DB]")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
