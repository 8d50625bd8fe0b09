"""Read the logfmt lines a worker prints (`key=value key="a value"`) back into dicts."""

import shlex


def parse(line: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in shlex.split(line) if "=" in pair)


def events(lines: list[str], event: str | None = None) -> list[dict[str, str]]:
    """Every logfmt line that carries an `event=`, optionally only those of one event."""
    parsed = [parse(line) for line in lines if " event=" in line]
    return [fields for fields in parsed if event is None or fields.get("event") == event]
