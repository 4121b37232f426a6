"""CPython's own start cost: a ProcessPoolExecutor with fork, spawn and forkserver, against
the size of the parent.

    python3 python/cpython_cost.py

For a parent holding 0, 64, 256 and 1024 MiB (a byte written in every page, so that every
page is its own), it times pools of one worker that run one trivial task and shut down: the
median of five with each start method. Forkserver's first pool, which starts the server,
is timed apart: every later pool of the program finds the server running. It says in words
what holds on any machine, and prints as figures what belongs to this one. Part of the book
"Fork or Spawn" (chapter "Performance").
"""

import mmap
import multiprocessing
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from no_lingering import stop_helpers

SIZES_MIB = (0, 64, 256, 1024)
METHODS = ("fork", "spawn", "forkserver")
POOLS = 5
PAGE = 4096


def say(text):
    os.write(sys.stdout.fileno(), f"{text}\n".encode())


def nothing(value):
    return value


def held_memory(mib):
    """`mib` MiB the parent holds, a byte written in every page, in ordinary 4 KiB pages:
    on a kernel whose transparent huge page setting is `always`, memory in 2 MiB pages would
    fork far faster, and the figures would depend on that setting."""
    # Private, as a heap is: fork copies the page tables of private memory only; a shared
    # mapping's the child faults in again. (With no file, CPython adds MAP_ANONYMOUS.)
    memory = mmap.mmap(-1, max(mib << 20, PAGE), flags=mmap.MAP_PRIVATE)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        memory.madvise(mmap.MADV_NOHUGEPAGE)
    for offset in range(0, mib << 20, PAGE):
        memory[offset] = 1
    return memory


def one_pool(context):
    """Milliseconds to start a pool of one worker, run one task and shut it down."""
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        pool.submit(nothing, 1).result(timeout=60)
    return (time.perf_counter() - started) * 1000


def ratio_words(ratio, many="many times more"):
    return many if ratio >= 3 else "not many times more"


def main():
    contexts = {method: multiprocessing.get_context(method) for method in METHODS}
    # Before anything is timed: the imports every pool needs, and the resource tracker that
    # the first spawn or forkserver pool of a program starts.
    one_pool(contexts["fork"])
    one_pool(contexts["spawn"])
    first_server_pool = one_pool(contexts["forkserver"])
    cost = {}
    for mib in SIZES_MIB:
        parent = held_memory(mib)
        for method in METHODS:
            cost[mib, method] = statistics.median(one_pool(contexts[method]) for _ in range(POOLS))
        parent.close()
    say(f"CPython {platform.python_version()}: ProcessPoolExecutor, one worker, one task")
    say(f"medians of {POOLS} pools, in ms, against the parent's size:")
    say(f"{'':>10}" + "".join(f"{method:>12}" for method in METHODS))
    for mib in SIZES_MIB:
        say(f"{mib:>6} MiB" + "".join(f"{cost[mib, m]:>9.1f} ms" for m in METHODS))
    say(f"forkserver's first pool, which starts the server: {first_server_pool:.1f} ms")
    low, high = SIZES_MIB[0], SIZES_MIB[-1]
    grows = cost[high, "fork"] / cost[low, "fork"]
    say(f"fork at {high} MiB / at {low} MiB: {grows:.1f}×: {ratio_words(grows)}")
    for method in ("spawn", "forkserver"):
        flat = cost[high, method] / cost[low, method]
        words = "flat (within 3×)" if 1 / 3 <= flat <= 3 else "not flat"
        say(f"{method} at {high} MiB / at {low} MiB: {flat:.2f}×: {words}")
    for method in ("spawn", "forkserver"):
        against = cost[low, "fork"] / cost[low, method]
        words = "cheaper" if against < 1 else "dearer"
        say(f"at {low} MiB, fork / {method}: {against:.2f}×: {words}")
    for method in ("spawn", "forkserver"):
        against = cost[high, "fork"] / cost[high, method]
        say(f"at {high} MiB, fork / {method}: {against:.2f}× (this machine's figure)")


if __name__ == "__main__":
    main()
    stop_helpers()
