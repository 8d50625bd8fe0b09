"""Run a claim in a thread of its own, as a second worker would, with its own connection."""

import threading

from django.db import connection


class InThread:
    """Call `function(*args)` in a new thread (named `name`); `result()` joins and returns."""

    def __init__(self, function, *args, name=None):
        self._value = self._error = None

        def target():
            try:
                self._value = function(*args)
            except BaseException as error:  # re-raised in the test's thread by result()
                self._error = error
            finally:
                connection.close()  # each thread has its own connection: close it

        self.thread = threading.Thread(target=target, name=name, daemon=True)
        self.thread.start()

    def is_alive(self) -> bool:
        return self.thread.is_alive()

    def result(self, timeout: float = 30):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError(f"{self.thread.name} still running after {timeout}s")
        if self._error is not None:
            raise self._error
        return self._value


def claimed_ids(worker: InThread) -> list[int]:
    return [task.pk for task in worker.result()]
