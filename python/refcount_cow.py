"""Copy-on-write in CPython: a forked worker that only *reads* still copies pages.

    python3 python/refcount_cow.py

The parent builds half a million small tuples, each an int and its str, says which of them the
allocator puts in the same pages, then forks four times. Each child does one
thing and reports how much of the parent's memory it had to copy (its private dirty memory,
from /proc/self/smaps_rollup, before and after): read every object, or run the garbage
collector; with and without gc.freeze() in the parent before the fork. Part of the book
"Fork or Spawn" (chapter "Copy-on-write").
"""

import gc
import os
import platform
import sys

OBJECTS = 500_000


def say(text):
    os.write(sys.stdout.fileno(), f"{text}\n".encode())


def private_dirty_mib():
    with open("/proc/self/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1]) / 1024
    return 0.0


def share(copied, data):
    """The share in words, each band wide enough that a build of the same CPython version
    lands in the same one (3.11 copies about three quarters, 3.12 and 3.13 under a half)."""
    if copied >= data * 0.6:
        return "most of it"
    if copied >= data * 0.25:
        return "about half of it"
    if copied >= data * 0.1:
        return "some of it"
    return "almost none of it"


def size_class(obj):
    """The block size CPython's small-object allocator gives `obj`: its size rounded up to
    16 bytes on a 64-bit build. Objects of one size class share pages, others do not."""
    return -(-sys.getsizeof(obj) // 16) * 16


def in_a_child(work):
    """Forks; the child does `work` and sends back how many MiB it copied."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        before = private_dirty_mib()
        work()
        os.write(writer, f"{private_dirty_mib() - before}".encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as answer:
        copied = float(answer.read())
    os.waitpid(pid, 0)
    return copied


def read_everything():
    return sum(len(item) for item in DATA)


if __name__ == "__main__":
    say(f"CPython {platform.python_version()}")
    gc.disable()  # no collection at a moment of its own choosing in a child
    before = private_dirty_mib()
    DATA = [(i, str(i)) for i in range(OBJECTS)]
    data = private_dirty_mib() - before
    say(f"the parent holds {OBJECTS} tuples: {data:.0f} MiB")
    pair = DATA[-1]
    sizes = ", ".join(f"{type(o).__name__} {size_class(o)}" for o in (pair, *pair))
    together = "in the same pages" if size_class(pair) == size_class(pair[1]) else "in separate pages"
    say(f"  allocator blocks, in bytes: {sizes}: tuples and strs {together}")
    for frozen in (False, True):
        if frozen:
            gc.freeze()
            say("gc.freeze(): the collector will leave them alone")
        for name, work in (("reads every tuple", read_everything), ("runs gc.collect()", gc.collect)):
            copied = in_a_child(work)
            say(f"  a child that {name}: copied {copied:.0f} MiB, {share(copied, data)}")
