"""What a spawn or forkserver worker refuses that a fork worker accepts, and what a pool
refuses under every method.

    python3.12 python/what_spawn_refuses.py

A fork worker is a copy of the parent: a `multiprocessing.Process` started by fork finds its
target and arguments in its own memory. A spawn or forkserver worker is a new interpreter:
they reach it pickled, a function by its module and name, an argument by value, so a lambda,
a nested function, a lock or an open file cannot be sent. A `ProcessPoolExecutor` pickles
every task it sends, whatever the start method. Each case is tried both ways with each
method; the tables say `ok` or the exception raised, and the messages follow. Part of the
book "Fork or Spawn" (chapter "Forkserver").
"""

import multiprocessing
import os
import platform
import sys
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


def by_process(method, function, argument):
    process = multiprocessing.get_context(method).Process(target=function, args=(argument,))
    process.start()
    process.join(30)
    return "ok" if process.exitcode == 0 else f"exit {process.exitcode}"


def by_pool(method, function, argument):
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        pool.submit(function, argument).result(timeout=30)
    return "ok"


def main():
    say(f"CPython {platform.python_version()}")

    def nested(value):
        return describe(value)

    cases = (
        ("a lambda", lambda value: describe(value), 1),
        ("a nested function", nested, 1),
        ("a lock as argument", describe, threading.Lock()),
        ("an open file as argument", describe, open(os.devnull)),
        ("a module's function", describe, 1),
    )
    messages = {}
    for title, way in (
        ("Process(target=f, args=(x,)).start()", by_process),
        ("ProcessPoolExecutor().submit(f, x).result()", by_pool),
    ):
        say(f"{title}:")
        say(f"  {'':<27}" + "".join(f"{method:<16}" for method in METHODS).rstrip())
        for name, function, argument in cases:
            cells = []
            for method in METHODS:
                try:
                    cells.append(way(method, function, argument))
                except Exception as error:  # what the caller gets, in the parent
                    cells.append(type(error).__name__)
                    messages.setdefault(name, message(error))
            say(f"  {name:<27}" + "".join(f"{cell:<16}" for cell in cells).rstrip())
    say("what the caller was told:")
    for name, text in messages.items():
        say(f"  {name}: {text}")


if __name__ == "__main__":
    main()
    stop_helpers()
