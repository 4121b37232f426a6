"""Stops the helper processes CPython keeps until the interpreter has exited.

A program that uses spawn or forkserver gets a resource tracker, and forkserver a fork server.
Both leave only after the interpreter exits, so for a moment they outlive the program; the
book's check, which fails a run that leaves a process of its group behind, sees them. The book's
scripts call `stop_helpers()` last, which stops them with the private calls CPython's own tests
use. Part of the book "Fork or Spawn".
"""

import gc
from multiprocessing import forkserver, resource_tracker


def stop_helpers():
    # Pools and queues the program let go of may still wait for the collector: their
    # semaphores must be freed while the tracker that counts them still runs.
    gc.collect()
    forkserver._forkserver._stop()
    resource_tracker._resource_tracker._stop()
