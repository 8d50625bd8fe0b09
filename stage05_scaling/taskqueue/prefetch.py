"""How many tasks a worker claims at once: as many as it can start soon, and no more.

A big batch is what makes tiny tasks cheap: one claim and one completion for a hundred tasks
instead of two round trips and two commits each. It is also what makes slow tasks wait: a
worker that claimed twenty tasks of a second each runs them for twenty seconds while the other
workers sit idle. So the batch follows the tasks. It starts at one, doubles after each batch,
and never holds more than the worker gets through in `target` seconds at the pace of its last
batch (nor more than `--batch-size`): no-op tasks reach 100 within a few batches, tasks of
5 ms settle at 20, tasks of a second stay at one.

`worker --batch-size N` fixes the batch at N instead (the benchmark's rows, and tests that
need a whole batch claimed at once).
"""

MOST = 100  # the largest batch the worker adapts up to
TARGET = 0.1  # seconds of work a worker may hold beyond the task it runs


class Prefetch:
    def __init__(self, fixed: int | None = None, most: int = MOST, target: float = TARGET):
        self.fixed = fixed
        self.most = most
        self.target = target
        self.size = fixed or 1

    def ran(self, count: int, seconds: float) -> None:
        """`count` tasks of the last batch ran in `seconds`: size the next one."""
        if self.fixed:
            return
        per_task = seconds / count
        fits = int(self.target / per_task) if per_task > 0 else self.most
        self.size = max(1, min(self.most, fits, self.size * 2))
