"""The worker-logger example in CPython: logging set up in the parent, used in the workers.

    python3 python/worker_logger.py forkserver [--initializer]

The parent configures the root logger (a handler on standard output, level DEBUG) under the
`__main__` guard, then runs two tasks in a pool of one worker, each logging one DEBUG line.
A fork worker inherits the parent's configuration; a spawn or forkserver worker (Python
3.14's default on Linux) is a new interpreter, whose root logger has no handler and the
default level, WARNING: its lines are dropped without a word. With `--initializer`, each
worker configures logging itself when it starts.
Part of the book "Fork or Spawn" (chapter "A worker logger").
"""

import logging
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor

from no_lingering import stop_helpers

log = logging.getLogger("tasks")


def set_up_logging():
    """What the parent does once; with --initializer, what each worker does when it starts."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(processName)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)


def task(number):
    log.debug("task %d ran", number)
    return number


def main():
    method = sys.argv[1]
    initializer = set_up_logging if "--initializer" in sys.argv[2:] else None
    set_up_logging()
    log.debug("a pool of one worker, start method %r%s", method, ", with an initializer" * bool(initializer))
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=initializer) as pool:
        results = list(pool.map(task, [1, 2]))
    log.debug("results %s", results)


if __name__ == "__main__":
    main()
    stop_helpers()
