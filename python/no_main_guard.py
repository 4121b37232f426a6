"""A script that starts a pool at its top level, without the `if __name__ == "__main__":`
guard.

    python3 python/no_main_guard.py forkserver

Under fork the workers are copies of the parent and never run the script, so it works.
Under spawn and forkserver each worker is a new interpreter that imports the script to find
the task, and the import reaches the line that starts a pool again, before the worker has
finished starting: multiprocessing refuses with a RuntimeError, in the worker, and the pool
in the parent breaks. Each process says what it met, in one line. Part of the book "Fork or
Spawn" (chapter "Forkserver").
"""

import multiprocessing
import os
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from no_lingering import stop_helpers


def say(text):
    """One message, in lines that each start with the process's name."""
    name = multiprocessing.current_process().name
    lines = textwrap.wrap(text, width=70, subsequent_indent="  ")
    os.write(sys.stdout.fileno(), "".join(f"{name:<16} {line}\n" for line in lines).encode())


def double(value):
    return 2 * value


def first_sentence(error):
    return " ".join(str(error).split()).split(".")[0] + "."


# The queues a worker's failed pool leaves behind are reported by CPython's resource tracker
# with a path of this machine's; the tracker, a process of its own, inherits this filter.
os.environ["PYTHONWARNINGS"] = "ignore::UserWarning:multiprocessing.resource_tracker"

# No guard: this runs in the parent, and in every spawn or forkserver worker as it imports
# the script.
try:
    context = multiprocessing.get_context(sys.argv[1] if len(sys.argv) > 1 else "forkserver")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        say(f"map: {list(pool.map(double, [1, 2]))}")
except BrokenProcessPool as error:  # a RuntimeError too: this one first
    say(f"BrokenProcessPool: {first_sentence(error)}")
except RuntimeError as error:
    say(f"RuntimeError: {first_sentence(error)}")
    sys.exit(1)

if multiprocessing.parent_process() is None:
    stop_helpers()  # in the parent only: a worker that got this far must not stop them
