"""Running `async def` tasks on an event loop the worker owns, so that they can be stopped.

asgiref's `async_to_sync` runs a coroutine on a loop in another thread. The worker stops a
task by raising an exception in the main thread (shutdown.py), which would leave that coroutine
running on: its attempt recorded as stopped and sent back to the queue, a second attempt
started elsewhere while the first still runs, and a thread left behind for each.

So the worker runs coroutines itself, in its main thread, one at a time, and stops one by
cancelling it: the coroutine gets CancelledError at its next `await`, its `finally` blocks and
`async with` exits run, and only then does the worker record how the attempt ended. The
threads it started (`loop.run_in_executor`, `asyncio.to_thread`) are waited for too: the
attempt is over when nothing of it runs any more.

A coroutine that ignores the cancel (it catches CancelledError and goes on, or calls blocking
code that never awaits) keeps its worker; the supervisor then kills the worker process, as it
kills one whose task holds the GIL (supervisor.py), and the give-back records why.
"""

import asyncio
import contextlib

from asgiref.sync import sync_to_async
from django.db import close_old_connections


class Coroutines:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self._task: asyncio.Task | None = None
        self._cancel_asked = False

    def cancel(self) -> None:
        """From the shutdown thread (shutdown.stop_with), once per stop: cancel the running
        coroutine, or the one about to run. call_soon_threadsafe is the loop's door for
        other threads."""
        self._cancel_asked = True
        if (task := self._task) is not None:
            self.loop.call_soon_threadsafe(task.cancel)

    def run(self, coroutine, shutdown):
        """Run `coroutine` to its end; if `shutdown` stops it meanwhile (through cancel()),
        raise what shutdown says (Interrupted, TaskStopped) once the coroutine has ended."""
        task = self._task = self.loop.create_task(coroutine)
        if self._cancel_asked:  # asked before the task existed
            task.cancel()
        try:
            return self.loop.run_until_complete(task)
        except asyncio.CancelledError:
            # Stopped: raise why. Cancelled by itself (no stop asked for): an error of its own.
            raise shutdown.stopped_by() or RuntimeError("the coroutine was cancelled") from None
        finally:
            if not task.done():  # something ended the loop's run early: end the task too
                task.cancel()
                with contextlib.suppress(BaseException):
                    self.loop.run_until_complete(task)
            self._task, self._cancel_asked = None, False
            # The threads of this attempt: waited for, and a fresh executor for the next one.
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            # The ORM in a coroutine runs in asgiref's thread for sync code, on that thread's
            # connections: tidied there, as the worker tidies its own (connections.py).
            self.loop.run_until_complete(sync_to_async(close_old_connections)())
