"""The module-scope example in Python, to run beside examples/module_scope.rs.

    python3 python/module_scope.py fork|spawn|forkserver

A list at module scope; the parent appends to it, then two workers of a ProcessPoolExecutor
each append to their own view of it. (Its address is not printed: two workers forked from one
server may or may not place it alike, so it would say nothing.) Every line starts with the process's name and the
seconds since this module was first run in that process, as the Rust program's `say!` does.
Part of the book "Fork or Spawn" (chapter "Forkserver").
"""

import multiprocessing
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor

STARTED = time.monotonic()


def say(text):
    """One line in one write(2), so that lines of different processes never mix."""
    name = multiprocessing.current_process().name
    column = f"{name:<16}" if name == "MainProcess" else f"{name:>16}"
    line = f"{column} [{time.monotonic() - STARTED:5.2f}s] {text}\n"
    try:
        os.write(sys.stdout.fileno(), line.encode())
    except BrokenPipeError:
        pass  # piped into `head`: the reader has seen enough


SHARED_LIST = ["initial"]
say(f"[MODULE SCOPE] list: {SHARED_LIST}")


BOTH_RUNNING = None


def remember(barrier):
    global BOTH_RUNNING
    BOTH_RUNNING = barrier


def append_to_shared_list(count):
    """Appends to the list and returns it as this worker sees it. The barrier holds each
    task until the other runs too: each worker takes exactly one input."""
    BOTH_RUNNING.wait(timeout=30)
    SHARED_LIST.append(f"worker {count}")
    return list(SHARED_LIST)


if __name__ == "__main__":
    method = sys.argv[1]
    say(f"CPython {platform.python_version()}, start method '{method}'")
    SHARED_LIST.append("parent")
    context = multiprocessing.get_context(method)
    barrier = context.Barrier(2)
    with ProcessPoolExecutor(2, context, initializer=remember, initargs=(barrier,)) as pool:
        for seen in pool.map(append_to_shared_list, [1, 2]):
            say(f"a worker saw: {seen}")
    say(f"List finally: {SHARED_LIST}")
    del pool, barrier  # the barrier's semaphores go now, while the resource tracker runs
    # CPython keeps two helper processes until the interpreter exits, and they leave only
    # after it: the fork server (forkserver) and the resource tracker (spawn, forkserver).
    # The book's check, which insists that a run leaves no process behind, sees them
    # linger. Stop them now, with the private functions CPython's own tests use.
    from multiprocessing import forkserver, resource_tracker

    forkserver._forkserver._stop()
    resource_tracker._resource_tracker._stop()
