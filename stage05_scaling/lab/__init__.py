"""The workshop's instruments for this stage: the demo, and in stage 5 the chaos run, the load
test and the thread comparison. They drive real worker processes through `workshop`'s helpers.

Not the lesson, and not part of the queue: `taskqueue/` is what you would copy into a project, and
it imports nothing from here or from `workshop`."""
