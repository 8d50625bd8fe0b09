"""Django's PostgreSQL backend, plus two conveniences for the workshop.

1. With the embedded server, the socket folder is only known once the server runs, so the host is
   filled in at connection time (and the server started if needed), not at settings import:
   `manage.py help` or stage 1's loop never start a database they do not use.
2. A stage's database is created the first time someone connects to it.

Everything else is Django's backend, unchanged.
"""

import contextlib

import psycopg
from django.db.backends.postgresql import base
from psycopg import errors, sql


class DatabaseWrapper(base.DatabaseWrapper):
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
