"""Asks this machine's CPython which start methods it has, and which one a program gets
when it does not choose.

    python3 python/platform_methods.py

Part of the book "Fork or Spawn" (chapter "Platform support"): the library's side of the
same question is examples/platform.rs.
"""

import multiprocessing
import platform
import sys


def main():
    print(f"CPython {platform.python_version()} on {sys.platform} ({platform.machine()})")
    print("start methods it has:", ", ".join(multiprocessing.get_all_start_methods()))
    print("the default, when a program does not choose:", multiprocessing.get_start_method())


if __name__ == "__main__":
    main()
