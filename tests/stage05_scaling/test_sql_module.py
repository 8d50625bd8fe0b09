"""Stage 5's SQL lives in one module, taskqueue/sql.py: the code and the benchmark import it from
there, and the trigger the migrations install is the one it holds."""

import ast
import re
from pathlib import Path

import pytest
from django.db import connection

from taskqueue import sql

APP = Path(sql.__file__).parent
# A string that starts like a statement (SQL keywords in capitals, as this project writes them).
STATEMENT = re.compile(
    r"^\s*(SELECT |INSERT INTO |UPDATE \w+ |DELETE FROM |WITH \w+ AS |COPY |LISTEN |CREATE |DROP )"
)


def sql_strings_outside_sql_py() -> list[str]:
    found = []
    for path in sorted(APP.rglob("*.py")):
        if path.name == "sql.py" or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and STATEMENT.match(node.value)
            ):
                found.append(f"{path.relative_to(APP)}:{node.lineno}: {node.value.strip()[:60]}")
    return found


def test_no_module_but_sql_py_holds_a_statement():
    assert sql_strings_outside_sql_py() == []


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["NOTIFY_TRIGGER", "HEADS"])
def test_the_functions_in_the_database_are_the_ones_in_sql_py(text):
    """The migrations hold their own copy of the functions' text (a migration's SQL is frozen
    in it): a change to sql.NOTIFY_TRIGGER or sql.HEADS fails here until a new migration
    installs it."""
    names = re.findall(r"CREATE OR REPLACE FUNCTION (\w+)\(", getattr(sql, text))
    bodies = getattr(sql, text).split("$$")[1::2]
    with connection.cursor() as cursor:
        cursor.execute("SELECT proname, prosrc FROM pg_proc WHERE proname = ANY(%s)", [names])
        installed = dict(cursor.fetchall())
    assert {name: installed.get(name, "").strip() for name in names} == {
        name: body.strip() for name, body in zip(names, bodies, strict=True)
    }
