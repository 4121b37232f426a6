"""What a spawn or forkserver worker refuses that a fork worker accepts, and what a pool
refuses under every method.

    python3.12 python/what_spawn_refuses.py

A fork worker is a copy of the parent: a `multiprocessing.Process` started by fork finds its
target and arguments in its own memory. A spawn or forkserver worker is a new interpreter:
they reach it pickled, a function by its module and name, an argument by value, so a lambda,
a nested function, a lock or an open file cannot be sent. A `ProcessPoolExecutor` pickles
every task it sends, whatever the start method. Each case is tried both ways with each
method (and a lambda given as a pool's initializer); the tables say `ok`, the exception
raised, or `exit N` for a Process that died, and the messages follow. Part of the
book "Fork or Spawn" (chapter "Forkserver").
"""

import multiprocessing
import os
import platform
import re
import sys
import tempfile
import textwrap
import threading
from concurrent.futures import ProcessPoolExecutor

from no_lingering import stop_helpers

METHODS = ("fork", "spawn", "forkserver")


def say(text):
    os.write(sys.stdout.fileno(), f"{text}\n".encode())


def describe(value):
    return type(value).__name__


def message(error):
    """The first line of an exception's message, as the caller reads it."""
    return f"{type(error).__name__}: {str(error).splitlines()[0]}"


class WorkersSay:
    """What the workers write on standard error: their tracebacks, when a task cannot be
    unpickled in them. Standard error is a file from the start, before any worker or server
    exists, so that every process that inherits it writes there; each case reads what it
    added, and keeps the exception's line, without the path of this machine."""

    def __init__(self):
        self.log = tempfile.TemporaryFile()
        self.stderr = os.dup(2)
        os.dup2(self.log.fileno(), 2)
        self.seen = 0

    def close(self):
        """Standard error back as it was, so that an error of the parent's own is seen."""
        os.dup2(self.stderr, 2)

    def since_last(self):
        self.log.seek(self.seen)
        text = self.log.read().decode(errors="replace")
        self.seen += len(text.encode())
        lines = [line for line in text.splitlines() if re.match(r"^[A-Za-z]+Error: ", line)]
        return re.sub(r" from '[^']*'", "", lines[-1]) if lines else None


def by_process(method, function, argument, initializer):
    if initializer is not None:
        return "-"  # a Process has no initializer
    process = multiprocessing.get_context(method).Process(target=function, args=(argument,))
    process.start()
    process.join(30)
    return "ok" if process.exitcode == 0 else f"exit {process.exitcode}"


def by_pool(method, function, argument, initializer):
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=initializer) as pool:
        pool.submit(function, argument).result(timeout=30)
    return "ok"


def main(defined_under_the_guard):
    say(f"CPython {platform.python_version()}")

    def nested(value):
        return describe(value)

    cases = (
        ("a lambda", lambda value: describe(value), 1, None),
        ("a nested function", nested, 1, None),
        ("a function under the guard", defined_under_the_guard, 1, None),
        ("a lock as argument", describe, threading.Lock(), None),
        ("an open file as argument", describe, open(os.devnull), None),
        ("a lambda as initializer", describe, 1, lambda: None),
        ("a module's function", describe, 1, None),
    )
    messages = {}
    workers = WorkersSay()
    try:
        run_cases(cases, messages, workers)
    finally:
        workers.close()
    say("what the caller was told, and what a worker said:")
    for name, text in messages.items():
        for line in textwrap.wrap(f"{name}: {text}", width=88, subsequent_indent="    "):
            say(f"  {line}")


def run_cases(cases, messages, workers):
    for title, way in (
        ("Process(target=f, args=(x,)).start()", by_process),
        ("ProcessPoolExecutor().submit(f, x).result()", by_pool),
    ):
        say(f"{title}:")
        say(f"  {'':<27}" + "".join(f"{method:<19}" for method in METHODS).rstrip())
        for name, function, argument, initializer in cases:
            cells = []
            for method in METHODS:
                try:
                    cells.append(way(method, function, argument, initializer))
                except Exception as error:  # what the caller gets, in the parent
                    cells.append(type(error).__name__)
                    messages.setdefault(name, message(error))
                said = workers.since_last()
                if said:
                    messages.setdefault(f"{name}, in the worker", said)
            say(f"  {name:<27}" + "".join(f"{cell:<19}" for cell in cells).rstrip())


if __name__ == "__main__":

    def defined_under_the_guard(value):
        return describe(value)

    main(defined_under_the_guard)
    stop_helpers()
