"""``swap``: rename a pre-made spare copy of the snapshot into place.

Spares are cloned from the snapshot (``CREATE DATABASE ... TEMPLATE ... STRATEGY
FILE_COPY``) by a background task. A restore closes the connections to the working
database (the app's are terminated with a log line), disables new ones, and renames the
working database away and a spare to the working name in one transaction; the app's
pool reconnects to the same name. The replaced copy is dropped in the background, never
on the critical path. The number of spares adapts to how long a clone takes compared
with a test (``spares`` minimum, ``max_spares`` maximum), so tests never wait on a
refill when a refill is faster than a test. Restores everything, sequences included.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import asyncpg

from integration_kit.postgres.janitor import APPLICATION_NAME, Janitor
from integration_kit.postgres.snapshot import Snapshot
from integration_kit.postgres.strategies.base import Strategy, log

_COUNTER = itertools.count(1)


class SwapStrategy(Strategy):
    name = "swap"
    restores_sequences = True

    def __init__(
        self,
        janitor: Janitor,
        snapshot: Snapshot,
        database: str,
        *,
        spares: int = 2,
        max_spares: int = 6,
        **options: Any,
    ) -> None:
        super().__init__(janitor, snapshot, database, **options)
        self.min_spares = max(1, spares)
        self.max_spares = max(self.min_spares, max_spares)
        self._ready: deque[str] = deque()
        self._retired: list[str] = []
        self._inflight: str | None = None
        self._generation = 0
        self._wake = asyncio.Event()
        self._added = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._clone_ms = 0.0
        self._test_ms = math.inf
        self._last_restore: float | None = None
        self.waited = 0
        """How many restores had to wait for a spare (for tuning ``spares``)."""

    # --- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        await super().start()
        self._task = asyncio.create_task(self._worker(), name=f"ik-swap-refill-{self.database}")

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
            self._task = None
        names = [*self._ready, *self._retired, self.database]
        if self._inflight is not None:
            names.append(self._inflight)
        self._ready.clear()
        self._retired.clear()
        await asyncio.gather(*(self.janitor.drop(n) for n in names))

    async def rebase(self, snapshot: Snapshot) -> None:
        await super().rebase(snapshot)
        self._generation += 1
        self._retired.extend(self._ready)
        self._ready.clear()
        self._wake.set()

    async def begin(self, conn: asyncpg.Connection) -> None:
        self._wake.set()  # refill and drop in the background, off the critical path

    # --- the critical path -----------------------------------------------------------

    async def restore(self, *, closing: Sequence[int] = ()) -> None:
        now = time.perf_counter()
        if self._last_restore is not None:
            elapsed = (now - self._last_restore) * 1000
            self._test_ms = elapsed if math.isinf(self._test_ms) else 0.7 * self._test_ms + 0.3 * elapsed
        spare = await self._take_spare()
        retired = self.janitor.derived_name(self.database, f"o{next(_COUNTER)}")
        await self.janitor.swap(self.database, spare, retired=retired, closing=closing)
        self._retired.append(retired)
        self._last_restore = time.perf_counter()

    async def _take_spare(self) -> str:
        if not self._ready:
            self.waited += 1
        while not self._ready:
            if self._task is None or self._task.done():
                log.warning("integration-kit: swap refill is not running (%s); cloning inline", self._failure)
                return await self.snapshot.clone_to(
                    self.janitor, self.janitor.derived_name(self.database, f"s{next(_COUNTER)}")
                )
            self._added.clear()
            self._wake.set()
            await self._added.wait()
        return self._ready.popleft()  # the refill starts when the next test begins

    async def _warm(self, name: str) -> None:
        """Connect once, so the first connection after the swap finds the relation cache file built."""
        conn = await asyncpg.connect(
            self.janitor.dsn(name), server_settings={"application_name": APPLICATION_NAME}
        )
        pid = conn.get_server_pid()
        conn.terminate()
        await self.janitor.wait_gone([pid])  # else renaming the spare would find it busy

    # --- the background ------------------------------------------------------------

    @property
    def target_spares(self) -> int:
        """Spares to keep: enough to cover a clone's duration with tests of the observed length."""
        if math.isinf(self._test_ms) or self._test_ms <= 0:
            return self.min_spares
        need = math.ceil(self._clone_ms / self._test_ms) + 1
        return max(self.min_spares, min(self.max_spares, need))

    async def _worker(self) -> None:
        failures = 0
        while not self._closing:
            try:
                if len(self._ready) < self.target_spares:
                    await self._refill_one()
                elif self._retired:
                    name = self._retired.pop(0)
                    try:
                        await self.janitor.drop(name)
                    except Exception:
                        self._retired.append(name)
                        raise
                else:
                    self._wake.clear()
                    await self._wake.wait()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep refilling; restores clone inline meanwhile
                self._failure = exc
                failures += 1
                log.warning("integration-kit: swap background work failed: %r", exc)
                if failures >= 5:
                    self._added.set()
                    return
                await asyncio.sleep(0.05 * failures)

    async def _refill_one(self) -> None:
        generation = self._generation
        name = self.janitor.derived_name(self.database, f"s{next(_COUNTER)}")
        self._inflight = name
        started = time.perf_counter()
        try:
            name = await self.snapshot.clone_to(self.janitor, name)
        finally:
            self._inflight = None
        await self._warm(name)
        took = (time.perf_counter() - started) * 1000
        self._clone_ms = took if self._clone_ms == 0 else 0.7 * self._clone_ms + 0.3 * took
        if generation != self._generation:
            self._retired.append(name)
            return
        self._ready.append(name)
        self._added.set()
