"""Django's PostgreSQL backend, plus two conveniences for the workshop.

1. With the embedded server, the socket folder is only known once the server runs, so the host is
   filled in at connection time (and the server started if needed), not at settings import:
   `manage.py help` or stage 1's loop never start a database they do not use.
2. A stage's database is created the first time someone connects to it.
3. `migrate` refuses a database that an older version of the stage migrated (check()).

Everything else is Django's backend, unchanged.
"""

import contextlib

import psycopg
from django.db.backends.base.validation import BaseDatabaseValidation
from django.db.backends.postgresql import base
from psycopg import errors, sql


def stale_migrations(connection) -> list:
    """A database that applied migrations the code no longer has: the workshop renamed or split
    some (stage 5's steps did). Django would apply their replacements over the old schema and
    stop half-way, on a column that exists already; say what to do instead."""
    from django.core.checks import Error
    from django.db import DatabaseError
    from django.db.migrations.loader import MigrationLoader

    try:
        loader = MigrationLoader(connection, ignore_no_migrations=True)
    except DatabaseError:
        return []  # no database to look at: the command's own connection says why
    gone = sorted(key for key in loader.applied_migrations if key not in loader.disk_migrations)
    if not gone:
        return []
    name = connection.settings_dict["NAME"]
    app, migration = gone[0]
    return [
        Error(
            f"database {name} was migrated by an older version of this stage: it applied"
            f" {app}.{migration}, which no longer exists",
            hint=f"drop it and migrate again (its rows go with it): make psql, then"
            f" DROP DATABASE {name};",
            id="workshop.E001",
        )
    ]


class Validation(BaseDatabaseValidation):
    """Django's checks of a PostgreSQL database, which `migrate` runs first, and one more."""

    def check(self, **kwargs):
        return [*super().check(**kwargs), *stale_migrations(self.connection)]


class DatabaseWrapper(base.DatabaseWrapper):
    validation_class = Validation

    def get_connection_params(self):
        params = super().get_connection_params()
        if self.settings_dict.get("EMBEDDED"):
            from workshop import embedded

            try:
                server = embedded.ensure_running()
            except Exception as error:
                # A server half-way through a restart: to the caller, a database that does
                # not answer yet (an OperationalError, which workers wait out), not a crash.
                message = f"embedded PostgreSQL unavailable: {error!r}"
                raise psycopg.OperationalError(message) from error
            params["host"] = server.socket_dir
            params["port"] = server.port
        return params

    def get_new_connection(self, conn_params):
        try:
            return super().get_new_connection(conn_params)
        except psycopg.OperationalError as error:
            if "does not exist" not in str(error) or conn_params.get("dbname") is None:
                raise
            self._create_database(conn_params)
            return super().get_new_connection(conn_params)

    def _create_database(self, conn_params):
        server_params = {
            key: value
            for key, value in conn_params.items()
            if key in {"host", "port", "user", "password"}
        }
        name = conn_params["dbname"]
        server_db = self.settings_dict.get("SERVER_DB") or "postgres"
        # Another process may have created it a moment ago: that is fine too.
        with (
            psycopg.connect(dbname=server_db, autocommit=True, **server_params) as conn,
            contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation),
        ):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
