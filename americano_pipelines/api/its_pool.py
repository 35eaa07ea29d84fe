"""The ITS requests' worker processes: sampling never blocks the event loop, and a worker keeps
its compiled model warm between requests.

A fit takes seconds of CPU in PyMC/nutpie, so it runs in a separate process (spawned: a fork of
a process with the server's threads is unsafe). Each worker keeps `stats.its`'s in-process model
cache, so from its second request on it reuses the compiled model; the PyTensor compile cache
under AMERICANO_HOME (`config.configure_pytensor_cache`, run when the package is imported) keeps
even a new worker's first compile short. A fit that runs past the timeout is answered 504 and
its pool is terminated and replaced: that is the only way to stop a sampler, and the requests
queued behind it are answered 503 rather than left waiting.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from typing import Any

from americano_pipelines.errors import InputError

__all__ = ["ITSPool", "ITSTimeout", "ITSRestarted"]


class ITSTimeout(RuntimeError):
    """The fit ran past the timeout (504)."""


class ITSRestarted(RuntimeError):
    """The pool was restarted while the fit waited (503)."""


def fit_its(arguments: dict[str, Any]) -> tuple[str, Any, str | None]:
    """In a worker: `stats.its.bayesian_its(**arguments)`'s JSON, or the InputError's message
    and field (an InputError's field does not survive pickling)."""
    from americano_pipelines.stats.its import bayesian_its

    try:
        return "ok", bayesian_its(**arguments).to_json(), None
    except InputError as error:
        return "input", str(error), error.field


class ITSPool:
    """`workers` spawned processes, started on the first request."""

    def __init__(self, workers: int, timeout: float) -> None:
        self.workers = workers
        self.timeout = timeout
        self._pool: Any = None
        self._pending: set[asyncio.Future] = set()
        self._lock = threading.Lock()

    def _get_pool(self) -> Any:
        with self._lock:
            if self._pool is None:
                self._pool = multiprocessing.get_context("spawn").Pool(self.workers)
            return self._pool

    async def fit(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The fit's JSON; InputError for bad input, ITSTimeout, ITSRestarted."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()

        def settle(outcome: Any, failed: bool) -> None:
            if future.done():
                return
            if failed:
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

        pool = self._get_pool()
        self._pending.add(future)
        pool.apply_async(
            fit_its,
            (arguments,),
            callback=lambda value: loop.call_soon_threadsafe(settle, value, False),
            error_callback=lambda error: loop.call_soon_threadsafe(settle, error, True),
        )
        try:
            status, value, field = await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            self._pending.discard(future)
            self._restart(pool)
            raise ITSTimeout(
                f"the fit ran past AMERICANO_API_ITS_TIMEOUT ({self.timeout:g} s); ask for fewer "
                "draws, tuning steps or chains"
            ) from None
        finally:
            self._pending.discard(future)
        if status == "input":
            raise InputError(value, field=field)
        return value

    def _restart(self, pool: Any) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.terminate()
        for waiting in list(self._pending):
            if not waiting.done():
                waiting.set_exception(ITSRestarted("the ITS worker was restarted; try again"))

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()
            pool.join()
