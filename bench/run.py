"""`make bench`: run every bench/bench_*.py in turn and collect their tables in BENCHMARKS.md.

Each script prints progress and writes its own markdown section to bench/out/NAME.md; this
runner only sequences them (never in parallel: they time things) and assembles the file.
Pass script names (e.g. `profile forecast`) to run a subset; sections of scripts not run are
kept from the previous BENCHMARKS.md.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def _machine() -> str:
    cores = os.cpu_count()
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        mem = f", {kb / 1024**2:.0f} GiB RAM"
    except (OSError, AttributeError):
        pass
    return f"{platform.processor() or platform.machine()}, {cores} cores{mem}, Python {platform.python_version()}"


def _old_sections() -> dict[str, str]:
    path = HERE / "BENCHMARKS.md"
    if not path.exists():
        return {}
    parts = re.split(r"^<!-- section: (\w+) -->$", path.read_text(), flags=re.M)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def _splice(name: str, text: str) -> None:
    """Replace one section, re-reading the file under a lock at write time.

    Benchmarks run for many minutes; reading the sections only at start made a run drop
    sections another run had written meanwhile, so every splice reads, edits and renames
    under an exclusive lock.
    """
    path = HERE / "BENCHMARKS.md"
    with open(HERE / ".BENCHMARKS.md.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sections = _old_sections()
        sections[name] = text
        header = f"# kpiml benchmarks\n\nLatest figures from `make bench` (updated {dt.date.today()}) on {_machine()}.\nEach section names the script that measured it; re-run one with `make bench` or `.venv/bin/python bench/run.py NAME`.\n"
        body = "\n\n".join(f"<!-- section: {k} -->\n{v}" for k, v in sorted(sections.items()))
        tmp = path.with_suffix(".md.tmp")
        tmp.write_text(header + "\n" + body + "\n")
        tmp.replace(path)


def main(names: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    chosen = [s for s in scripts if not names or s.stem.removeprefix("bench_") in names]
    OUT.mkdir(exist_ok=True)
    failed = []
    for script in chosen:
        name = script.stem.removeprefix("bench_")
        print(f"== bench {name}", flush=True)
        md = OUT / f"{name}.md"
        md.unlink(missing_ok=True)  # a stale file from an earlier run must not pass for this one
        res = subprocess.run([sys.executable, str(script)], cwd=HERE.parent)
        if res.returncode != 0 or not md.exists():
            failed.append(name)
            continue
        _splice(name, md.read_text().strip())
    if failed:
        print(f"benchmarks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
