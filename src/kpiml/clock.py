"""Wall-clock helpers for budgets that a whole command must keep.

A budget the user gives `kpiml train --budget 60` is for the command, and the command's
clock starts when the process does: the interpreter start and the imports of pandas,
scikit-learn and the boosters are already seconds of it on a loaded 2-core machine.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def process_age() -> float:
    """Seconds since this process started, from /proc (Linux); 0.0 where that is unavailable.

    Written by hand: the standard library has no process start time, and psutil (which does)
    is not a dependency of kpiml.
    """
    try:
        after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start_ticks = int(after_name[19])  # field 22, starttime, in clock ticks since boot
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def command_started() -> float:
    """The `time.monotonic()` reading at which the command started: the process start when
    this process is the `kpiml` command, else now (a test or a notebook calling `main()`
    in-process would otherwise count its whole past against the budget)."""
    if Path(sys.argv[0]).name in ("kpiml", "kpiml.exe") or (getattr(sys.modules.get("__main__"), "__package__", None) or "").startswith("kpiml"):
        return time.monotonic() - process_age()
    return time.monotonic()


_PROBES: list[tuple[float, float]] = []  # (monotonic time, wall / CPU ratio) of recent probes


def _probe(seconds: float = 0.02) -> float:
    """Wall over CPU time of a short single-threaded spin: 1.0 when this thread has a core to
    itself, 3.0 when it gets a third of one. Written by hand: the load average lags by a minute
    and counts this process's own threads, which over-reserved by half on a busy machine."""
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    while time.perf_counter() - wall0 < seconds:
        pass
    return (time.perf_counter() - wall0) / max(1e-6, time.thread_time() - cpu0)


def slowdown() -> float:
    """How much slower than on an idle machine single-threaded work runs now (>= 1).

    The median of the probes of the last 30 s (one new probe at most every second, 20 ms
    each), bounded by the load average over the cores (a single probe in a burst read 5x on
    a machine whose load said 2.6x): it turns a reserve measured on an idle machine into one
    that holds on a busy one.
    Call it where no other thread of this process computes (between trials), or it measures
    the process competing with itself.
    """
    now = time.monotonic()
    if not _PROBES or now - _PROBES[-1][0] >= 1.0:
        _PROBES.append((now, _probe()))
    recent = sorted(r for t, r in _PROBES if now - t <= 30.0)
    del _PROBES[: max(0, len(_PROBES) - 30)]
    return max(1.0, min(recent[len(recent) // 2], _load_ratio()))


def usable_cores() -> int:
    """Cores this process may use (its CPU affinity where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _load() -> float | None:
    """The 1-minute load average; None where the OS has none (Windows)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _load_ratio() -> float:
    """The load average over the cores: a smooth bound on a probe that caught a burst."""
    load = _load()
    return 1.0 if load is None else max(1.0, load / usable_cores())


def idle_cores() -> int:
    """Cores this process may use less the 1-minute load average (which counts this process's
    own running thread: callers add it back); all of them where the OS reports no load."""
    load = _load()
    return usable_cores() if load is None else max(0, int(usable_cores() - load))
