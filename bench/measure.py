"""Wall time and peak memory of a benchmarked command, children included (standard library only).

Why by hand: psutil is not in kpiml's environment, and `resource.getrusage(RUSAGE_CHILDREN)` gives
only the largest single process, whereas `kpiml train` runs a tracking helper beside the search
and AutoGluon / FLAML may fork workers. So the process tree's summed RSS is sampled from /proc
every 0.2 s, and the kernel's exact peak of the largest process (wait4's ru_maxrss) is taken when
it is larger (a short peak between two samples).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Measured:
    returncode: int
    seconds: float
    peak_mb: float
    stdout: str
    stderr: str

    def error(self) -> str:
        """The last meaningful line of stderr, short and safe inside a markdown table cell."""
        lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip()]
        text = lines[-1] if lines else f"exit code {self.returncode}"
        return text.replace("|", "/")[:160]


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                continue
    return pids


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def run_measured(cmd: list[str], timeout: float = 1800, env: dict[str, str] | None = None) -> Measured:
    """Run `cmd` to the end (killed with its group past `timeout`), sampling its tree's memory."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, start_new_session=True, env=env)
        peak = 0.0
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _rss_mb(_tree(proc.pid)))
            if time.monotonic() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.2)
        seconds = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        peak = max(peak, usage.ru_maxrss / 1024 if usage else 0.0)
        return Measured(proc.returncode, seconds, peak, out.read(), err.read())


def fmt_cost(m: Measured) -> str:
    """'66.1 s, 0.81 GB' for a table cell."""
    return f"{m.seconds:.1f} s, {m.peak_mb / 1024:.2f} GB"
