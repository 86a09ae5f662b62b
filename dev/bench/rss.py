"""``python -m bench.rss -- ARGV...``: run ARGV; append its peak RSS and wall time to stderr as
``peak-rss-kb N wall-s S cpu-s C`` (C: user and system CPU of ARGV and of the children it waited for).

Linux counts the parent's peak RSS into a child's ``ru_maxrss`` when the child execs (the old address
space's high-water mark), so a child spawned by the benchmark process, which grows as it checks
results, would report at least the benchmark's own size. Spawned from this small process instead, the
figure is the loader's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    started = time.perf_counter()
    proc = subprocess.Popen(argv)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    cpu = usage.ru_utime + usage.ru_stime
    sys.stderr.write(f"\npeak-rss-kb {usage.ru_maxrss} wall-s {wall:.6f} cpu-s {cpu:.6f}\n")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
