"""One retry policy type, on tenacity, declared once per use (connect, lock wait, lock-timeout retry, reconnect).

A policy says what to retry (``on``), for how long (``deadline`` seconds and/or ``attempts``) and how to
back off (exponential from ``initial`` to ``maximum``, with ``jitter``).  Tests shrink a policy with
``dataclasses.replace`` instead of patching ``sleep``.

The first attempt runs before tenacity is imported: on almost every pod start the first try works,
and the no-op path should not pay for the import.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from initjob.record import record

if TYPE_CHECKING:
    from tenacity import RetryCallState

T = TypeVar("T")


@record
class Attempt:
    """What ``before_sleep`` is told about a failed attempt."""

    number: int
    error: BaseException | None
    next_delay: float
    waited: float


@record
class Policy:
    """When and how long to retry; ``call`` runs a function under it."""

    name: str
    on: Callable[[BaseException], bool]
    initial: float = 0.1
    maximum: float = 4.0
    jitter: float = 0.25
    deadline: float | None = None
    attempts: int | None = None

    def within(self, deadline: float | None = None, attempts: int | None = None) -> Policy:
        """The same policy with another budget (a setting's value is known only at run time)."""
        return replace(self, deadline=self.deadline if deadline is None else deadline,
                       attempts=self.attempts if attempts is None else attempts)

    def call(self, fn: Callable[[], T], before_sleep: Callable[[Attempt], None] | None = None) -> T:
        """``fn()``, retried while ``on(error)`` holds and the budget lasts; the last error is re-raised."""
        start = time.monotonic()
        try:
            return fn()
        except BaseException as exc:
            if not self.on(exc) or self.attempts == 1:
                raise
            first: list[BaseException] = [exc]
        return self._retrying(start, before_sleep)(lambda: _replay_then(first, fn))

    def _retrying(self, start: float, before_sleep: Callable[[Attempt], None] | None) -> Callable[
            [Callable[[], T]], T]:
        from tenacity import Retrying, retry_if_exception, wait_exponential, wait_random

        deadline = None if self.deadline is None else start + self.deadline

        def stop(state: RetryCallState) -> bool:
            # The deadline counts from the first attempt, which ran before tenacity started its clock.
            if self.attempts is not None and state.attempt_number >= self.attempts:
                return True
            return deadline is not None and time.monotonic() + state.upcoming_sleep >= deadline

        def tell(state: RetryCallState) -> None:
            if before_sleep is None:
                return
            error = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            before_sleep(Attempt(state.attempt_number, error, round(delay, 3), round(time.monotonic() - start, 3)))

        retrying = Retrying(retry=retry_if_exception(self.on),
                            wait=wait_exponential(multiplier=self.initial, max=self.maximum)
                            + wait_random(0, self.jitter),
                            stop=stop, before_sleep=tell, reraise=True)
        return lambda fn: retrying(fn)


def _replay_then(first: list[BaseException], fn: Callable[[], T]) -> T:
    """tenacity's attempt 1 is the failure already seen before it was imported."""
    if first:
        raise first.pop()
    return fn()
