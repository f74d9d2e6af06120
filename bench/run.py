"""`make bench`: run every bench/bench_*.py in turn and collect their tables in BENCHMARKS.md.

Each script prints progress and writes its own markdown section to bench/out/NAME.md; this
runner only sequences them (never in parallel: they time things) and assembles the file.
Pass script names (e.g. `profile forecast`) to run a subset; sections of scripts not run are
kept from the previous BENCHMARKS.md.
"""

from __future__ import annotations

import datetime as dt
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


def main(names: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    chosen = [s for s in scripts if not names or s.stem.removeprefix("bench_") in names]
    OUT.mkdir(exist_ok=True)
    sections = _old_sections()
    failed = []
    for script in chosen:
        name = script.stem.removeprefix("bench_")
        print(f"== bench {name}", flush=True)
        res = subprocess.run([sys.executable, str(script)], cwd=HERE.parent)
        md = OUT / f"{name}.md"
        if res.returncode != 0 or not md.exists():
            failed.append(name)
            continue
        sections[name] = md.read_text().strip()
    header = f"# kpiml benchmarks\n\nLatest figures from `make bench` (updated {dt.date.today()}) on {_machine()}.\nEach section names the script that measured it; re-run one with `make bench` or `.venv/bin/python bench/run.py NAME`.\n"
    body = "\n\n".join(f"<!-- section: {k} -->\n{v}" for k, v in sorted(sections.items()))
    (HERE / "BENCHMARKS.md").write_text(header + "\n" + body + "\n")
    if failed:
        print(f"benchmarks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
