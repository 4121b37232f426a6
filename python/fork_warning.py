"""Python 3.12's warning when a process that runs threads forks, and where it is seen.

    python3.12 python/fork_warning.py

A second thread runs while the process forks three times: with os.fork() called from the
main module; inside a fork pool (ProcessPoolExecutor), whose os.fork() call is in
multiprocessing's own module; and in the pool again, with the filter that `python -W default`
sets. Each time it says whether a DeprecationWarning was raised, and the warning's words.
Part of the book "Fork or Spawn" (chapter "Fork and threads").
"""

import multiprocessing
import os
import platform
import sys
import threading
import warnings
from concurrent.futures import ProcessPoolExecutor


def say(text):
    os.write(sys.stdout.fileno(), f"{text}\n".encode())


def nothing(value):
    return value


def fork_directly():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def fork_in_a_pool():
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork")) as pool:
        list(pool.map(nothing, [1]))


def warnings_of(fork, show_all):
    """Forks as `fork` does, with the filters as they are (or as -W default makes them),
    and returns the fork warnings that the filters let through."""
    with warnings.catch_warnings(record=True) as caught:
        if show_all:
            warnings.simplefilter("default")
        fork()
    return [w for w in caught if issubclass(w.category, DeprecationWarning) and "fork" in str(w.message)]


def default_filters():
    """The warning filters of a release build run without -W, -X dev or PYTHONWARNINGS,
    as the warnings module documents them: what a program sees unless someone asked for
    more (a debug build, -X dev and test runners such as pytest show every warning)."""
    warnings.resetwarnings()
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__", append=True)
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.filterwarnings("ignore", category=category, append=True)


def main():
    default_filters()
    say(f"CPython {platform.python_version()}, a second thread running")
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        for what, fork, show_all in (
            ("os.fork() in __main__", fork_directly, False),
            ("a fork pool", fork_in_a_pool, False),
            ("a fork pool, -W default", fork_in_a_pool, True),
        ):
            caught = warnings_of(fork, show_all)
            verdict = "warned" if caught else "no warning"
            say(f"  {what + ':':<26} {verdict}")
            for warning in caught[:1]:
                # In two lines, split after its first comma: a width would put the break
                # elsewhere when the pid has another number of digits.
                head, _, tail = f"{warning.category.__name__}: {warning.message}".partition(", ")
                say(f"    {head},")
                say(f"    {tail}")
    finally:
        stop.set()
        thread.join()


if __name__ == "__main__":
    main()
