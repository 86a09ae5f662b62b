"""Benchmarks of tap-projects (tapkit) against a plain singer-sdk stream, dlt and a raw loop.

``python -m bench`` (``make bench``) prints one table and writes it to ``dev/bench/RESULTS.md``; see
``dev/bench/README.md``. Every system runs as its own subprocess against a sandbox that runs in yet
another process, so nothing measured shares a GIL with the sandbox or with this driver.
"""
