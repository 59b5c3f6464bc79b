"""When and how long to wait before trying again: one policy, one loop.

Every retry of the client goes through :func:`retry` with a
:class:`RetryPolicy`: Graph requests, upload chunks, and (through the same
policy's :meth:`RetryPolicy.backoff`) the caller's later attempts such as an
outbox. The waits go through the caller's ``sleep``, so a host application
decides which clock they run on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
import random

from .exceptions import O365Error
from .settings import Sleep


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded, jittered exponential backoff that honours ``Retry-After``.

    The defaults keep one action call under a minute in the worst case: up to
    4 tries of a request, waits of 1, 2 and 4 seconds (each ±25 %), a server's
    ``Retry-After`` obeyed when it fits, and at most 30 seconds of waiting in
    all. What still fails is the caller's to queue. Microsoft's own SDK
    retries 429, 503 and 504 a few times with exponential backoff and jitter
    (msgraph-sdk-python-core, ``RetryHandler``).
    """

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 8.0
    max_total_wait: float = 30.0
    jitter: float = 0.25

    def backoff(self, retry: int) -> float:
        """Return the wait before retry number ``retry`` (1 for the first)."""
        delay = min(self.max_delay, self.base_delay * 2 ** max(0, retry - 1))
        spread = delay * self.jitter
        jittered: float = delay + random.uniform(-spread, spread)
        return max(0.0, jittered)

    def next_delay(
        self, attempt: int, waited: float, retry_after: float | None
    ) -> float | None:
        """Return how long to wait before the next try, or None to give up.

        ``attempt`` tries were made and ``waited`` seconds already spent
        waiting. A ``Retry-After`` longer than the remaining budget gives up
        at once rather than sleeping into a failure.
        """
        if attempt >= self.attempts:
            return None
        delay = retry_after if retry_after is not None else self.backoff(attempt)
        if waited + delay > self.max_total_wait:
            return None
        return delay


NO_RETRY = RetryPolicy(attempts=1)


class TryAgain(Exception):  # noqa: N818 - a request, not an error
    """Raised by an attempt that failed in a way worth another try."""

    def __init__(self, error: O365Error) -> None:
        """Carry the failure (and its ``retry_after``) to the loop."""
        super().__init__(str(error))
        self.error = error


async def retry[T](
    policy: RetryPolicy,
    sleep: Sleep,
    attempt: Callable[[int], Awaitable[T]],
    *,
    on_retry: Callable[[O365Error, int, float], None] | None = None,
) -> T:
    """Call ``attempt(n)`` until it returns, gives up, or the policy says stop.

    An attempt raises :class:`TryAgain` for a failure worth repeating; the
    last one's error is raised when the policy gives up. Any other exception
    ends the loop at once. ``on_retry(error, attempt, delay)`` is told of
    each wait.
    """
    number = 0
    waited = 0.0
    while True:
        number += 1
        try:
            return await attempt(number)
        except TryAgain as again:
            error = again.error
        delay = policy.next_delay(number, waited, error.retry_after)
        if delay is None:
            raise error
        if on_retry is not None:
            on_retry(error, number, delay)
        await sleep(delay)
        waited += delay


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for, if it says.

    Accepts delta-seconds and HTTP dates; ``now`` is the current POSIX time.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)
