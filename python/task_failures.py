"""What becomes of a CPython pool when a task fails: it raises, its worker exits, or its
worker is killed.

    python3 python/task_failures.py

Each case runs in a fresh pool of one worker, started by forkserver (Python 3.14's default
on Linux): first the failing task, then an ordinary one on the same pool. For
`concurrent.futures.ProcessPoolExecutor` and for `multiprocessing.Pool`, it says what the
caller of the failing task got, and whether the pool went on. Part of the book "Fork or
Spawn" (chapter "When a worker dies").
"""

import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

from no_lingering import stop_helpers

CONTEXT = multiprocessing.get_context("forkserver")
LOST_S = 3  # a task whose worker died never answers: how long to wait for it
WAIT_S = 30


def say(text):
    os.write(sys.stdout.fileno(), f"{text}\n".encode())


def double(value):
    return 2 * value


def raises(value):
    raise ValueError(f"no good: {value}")


def exits(value):
    os._exit(3)


def is_killed(value):
    os.kill(os.getpid(), signal.SIGKILL)


def outcome(get):
    """What calling `get` gave: the value, or the exception's type."""
    try:
        return f"returned {get()}"
    except multiprocessing.TimeoutError:
        return f"nothing within {LOST_S} s"
    except Exception as error:
        return f"raised {type(error).__name__}"


def with_executor(task):
    with ProcessPoolExecutor(max_workers=1, mp_context=CONTEXT) as pool:
        failed = outcome(lambda: pool.submit(task, 1).result(timeout=WAIT_S))
        after = outcome(lambda: pool.submit(double, 2).result(timeout=WAIT_S))
    return failed, after


def with_pool(task):
    pool = CONTEXT.Pool(processes=1)
    try:
        failed = outcome(lambda: pool.apply_async(task, (1,)).get(timeout=LOST_S))
        after = outcome(lambda: pool.apply_async(double, (2,)).get(timeout=WAIT_S))
    finally:
        pool.terminate()
        pool.join()
    return failed, after


def main():
    for title, run in (("ProcessPoolExecutor", with_executor), ("multiprocessing.Pool", with_pool)):
        say(f"{title}, forkserver: the failing task, then double(2) on the same pool")
        for name, task in (("raises ValueError", raises), ("calls os._exit(3)", exits), ("is killed", is_killed)):
            failed, after = run(task)
            say(f"  a task that {name + ':':<19} {failed:<26} then {after}")


if __name__ == "__main__":
    main()
    stop_helpers()
