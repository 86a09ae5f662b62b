"""How big each benchmark is: the full sizes of ``make bench`` and the ~100x smaller ones of ``--small``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    throughput: int
    latency: int
    memory_small: int
    memory_large: int
    e2e: int
    loader_small: int  # records for the loaders' peak RSS, and 10x that
    loader_large: int


FULL = Sizes(
    throughput=200_000,
    latency=100_000,
    memory_small=10_000,
    memory_large=1_000_000,
    e2e=20_000,
    loader_small=100_000,
    loader_large=1_000_000,
)
SMALL = Sizes(
    throughput=2_000, latency=1_000, memory_small=100, memory_large=10_000, e2e=200, loader_small=1_000,
    loader_large=10_000,
)  # fmt: skip
