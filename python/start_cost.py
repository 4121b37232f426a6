"""Times one CPython ProcessPoolExecutor from start to shutdown.

    python3 python/start_cost.py METHOD WORKERS PARENT_MIB

The parent first holds PARENT_MIB MiB of memory with a byte written in every page (so that
every page is resident and its own, as after a write of the whole), then
starts a pool of WORKERS workers with the start method METHOD (fork, spawn or forkserver),
runs one trivial task per worker, and shuts the pool down. It prints the microseconds that
took, and nothing else. Part of the book "Fork or Spawn": examples/start_cost.rs runs it once
per measurement, so that every pool starts in a fresh interpreter, as a program's first pool
does.
"""

import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor

PAGE = 4096


def nothing(value):
    return value


def main():
    method, workers, parent_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    parent_data = bytearray(parent_mib << 20)
    parent_data[::PAGE] = b"\xa5" * len(range(0, len(parent_data), PAGE))
    context = multiprocessing.get_context(method)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        list(pool.map(nothing, range(workers)))
    elapsed = time.perf_counter() - started
    print(round(elapsed * 1e6))
    del parent_data


if __name__ == "__main__":
    main()
