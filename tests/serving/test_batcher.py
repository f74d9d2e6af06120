"""Tests of micro-batching: which concurrent requests are scored together, and when."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from kpiml.serving.batcher import Job, MicroBatcher
from kpiml.serving.decision_log import DecisionLogWriter
from kpiml.serving.metrics import Metrics

WINDOW = 0.3  # seconds: long enough that scheduling noise cannot blur what joins a batch


class Recording(MicroBatcher):
    """A batcher whose scoring step records each batch's request ids instead of scoring."""

    batches: list[list[str]]

    def process(self, jobs: list[Job]) -> tuple[list[bytes], bytes]:
        self.batches.append([job.request_id for job in jobs])
        return [job.request_id.encode() for job in jobs], b"".join(f"{job.request_id}\n".encode() for job in jobs)


async def _scenario(folder: Path) -> tuple[list[list[str]], float]:
    batcher = Recording(DecisionLogWriter(folder, sync=False), Metrics(), max_rows=100, window=WINDOW)
    batcher.batches = []
    batcher.start()

    def submit(rid: str) -> asyncio.Task[bytes]:
        return asyncio.ensure_future(batcher.submit(None, [{}], rid))

    first = [submit("a1"), submit("a2")]  # concurrent: one batch, taken at once (no batch before)
    assert await asyncio.gather(*first) == [b"a1", b"a2"]
    late = [submit("b1")]  # after a batch of two: the window lets b2 join b1
    await asyncio.sleep(WINDOW / 3)
    start = time.perf_counter()
    late.append(submit("b2"))  # as many as the last batch: no need to wait out the window
    await asyncio.gather(*late)
    assert time.perf_counter() - start < WINDOW / 2
    await submit("c1")  # alone, but after a batch of two: waits the window once
    start = time.perf_counter()
    await submit("d1")  # alone after a batch of one: no window
    lone = time.perf_counter() - start
    await batcher.stop()
    return batcher.batches, lone


def test_concurrent_requests_wait_a_window_to_share_a_batch_and_a_lone_one_does_not(tmp_path: Path) -> None:
    """Check that after a batch of several requests the batcher waits its window (or until as
    many requests are queued) so that requests arriving within it are scored together, and that
    a request arriving when the service is not under concurrent load is scored without waiting."""
    batches, lone = asyncio.run(_scenario(tmp_path))
    assert batches == [["a1", "a2"], ["b1", "b2"], ["c1"], ["d1"]]
    assert lone < WINDOW / 2


def test_no_window_scores_what_has_arrived(tmp_path: Path) -> None:
    """Check that with the window off, a request arriving after the batcher took its batch waits
    for the next batch rather than delaying the one already taken."""

    async def run() -> list[list[str]]:
        batcher: Any = Recording(DecisionLogWriter(tmp_path, sync=False), Metrics(), max_rows=100, window=0.0)
        batcher.batches = []
        batcher.start()
        await asyncio.gather(batcher.submit(None, [{}], "x1"), batcher.submit(None, [{}], "x2"))
        one = asyncio.ensure_future(batcher.submit(None, [{}], "y1"))
        await asyncio.sleep(0.05)
        two = asyncio.ensure_future(batcher.submit(None, [{}], "y2"))
        await asyncio.gather(one, two)
        await batcher.stop()
        return list(batcher.batches)

    assert asyncio.run(run()) == [["x1", "x2"], ["y1"], ["y2"]]
