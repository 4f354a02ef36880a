"""Retries for calls to the Slack Web API (and response_urls), with a cap on every wait.

slack_sdk's own rate-limit handler sleeps whatever `Retry-After` says, as often as
asked: three 429s with `Retry-After: 600` would hold the single answer worker for
half an hour. Here a 429 waits `Retry-After` but never more than `max_wait`
seconds, a 5xx (500, 502, 503, 504) waits an exponential backoff with the same cap,
and a connection error is retried like slack_sdk does. After `max_retries` the
call fails, the worker logs it, and the question stays in the journal
(bot/journal.py), so it is answered again after a restart rather than lost.
"""

from __future__ import annotations

import logging
import random
import time

from slack_sdk.http_retry import RetryHandler, RetryState
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse

log = logging.getLogger(__name__)

SERVER_ERRORS = (500, 502, 503, 504)


class CappedRetryHandler(RetryHandler):
    """429 and 5xx answers, retried with waits capped at `max_wait` seconds."""

    def __init__(self, max_retry_count: int = 4, max_wait: float = 30.0, base: float = 0.5) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait
        self.base = base

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        return response is not None and (response.status_code == 429 or response.status_code in SERVER_ERRORS)

    def wait_for(self, state: RetryState, response: HttpResponse) -> float:
        if response.status_code == 429:
            wanted = 1.0
            for key, value in response.headers.items():
                if key.lower() == "retry-after":
                    try:
                        wanted = float(value[0] if isinstance(value, list) else value)
                    except (TypeError, ValueError):
                        pass
        else:
            wanted = self.base * (2 ** state.current_attempt)
        return max(0.0, min(wanted, self.max_wait)) + random.random() * 0.25

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        if response is None:
            raise error  # type: ignore[misc]
        state.next_attempt_requested = True
        wait = self.wait_for(state, response)
        log.warning("Slack answered %s to %s; retry %d/%d in %.1fs", response.status_code, request.url,
                     state.current_attempt + 1, self.max_retry_count, wait)
        time.sleep(wait)
        state.increment_current_attempt()


def retry_handlers(max_wait: float = 30.0, max_retries: int = 4) -> list[RetryHandler]:
    return [ConnectionErrorRetryHandler(max_retry_count=2), CappedRetryHandler(max_retries, max_wait)]
