"""Figures the benchmarks share: percentiles, and the CPU time of a set of processes. Benchmarks
run as scripts, so they import this as `process_stats` (their own folder is first on the path)."""

import psutil


def percentile(values: list[float], q: float) -> float:
    """The value `q` (0-1) of the way up the sorted values (nearest rank, no interpolation)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(procs: list[psutil.Process]) -> float:
    """User + system CPU seconds of the processes that are still there, each with its reaped
    children (a finished work horse counts in its RQ worker's): CPU is less sensitive to other
    load on the machine than wall times."""
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total
