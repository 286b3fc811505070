"""`MetricsSource` over the Prometheus HTTP API, through `prometheus-api-client`.

The client is configured deliberately rather than left at its defaults (3 retries, 1 s
backoff, no timeout, Retry-After honoured however long): connection errors and 429/5xx answers
are retried `retries` times with capped exponential backoff, a read that times out is not
retried, and every request has a connect and a read timeout. The library reads only
`json()["data"]`; a response hook on our own session checks Prometheus's `status` first, so a
`status: error` answer becomes a typed `QueryError` and an unexpected body an error, never an
empty result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from quarterdeck.core.clock import Clock, WallClock
from quarterdeck.tools.metrics.base import (
    MetricsError,
    MetricsUnavailable,
    QueryError,
    RangeSeries,
    Sample,
    fresh,
)
from quarterdeck.tools.metrics.config import MetricsConfig

RETRY_ON_STATUS = (429, 500, 502, 503, 504)


class _EpochClock:
    """Wall time on the source's clock (Unix seconds minus `epoch`)."""

    def __init__(self, epoch: float, wall: Clock | None = None) -> None:
        self._epoch = epoch
        self._wall = wall or WallClock()

    def now(self) -> float:
        return self._wall.now() - self._epoch


def _check_status(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A `requests` response hook: refuse anything but a successful Prometheus answer."""
    if response.status_code in RETRY_ON_STATUS:
        raise MetricsUnavailable(
            f"Prometheus answered HTTP {response.status_code} after retries: "
            f"{response.text[:200]!r}"
        )
    try:
        body = response.json()
    except ValueError:
        raise MetricsUnavailable(
            f"not a Prometheus API answer (HTTP {response.status_code}): {response.text[:200]!r}"
        ) from None
    if not isinstance(body, dict):
        raise MetricsUnavailable(f"not a Prometheus API answer: {response.text[:200]!r}")
    if body.get("status") != "success":
        error_type = str(body.get("errorType") or "unknown")
        raise QueryError(
            f"Prometheus refused the query ({error_type}): {body.get('error') or body!r}",
            error_type=error_type,
        )
    if "data" not in body:
        raise MetricsUnavailable("Prometheus answered success without data")


def _float(text: Any) -> float:
    try:
        return float(text)  # "NaN", "+Inf" and "-Inf" parse too
    except (TypeError, ValueError):
        raise MetricsError(f"not a sample value: {text!r}") from None


class PrometheusMetricsSource:
    kind = "prometheus"

    def __init__(
        self, config: MetricsConfig, *, clock: Clock | None = None, wall: Clock | None = None
    ) -> None:
        if not config.url:
            raise ValueError("metrics kind 'prometheus' needs a url")
        self.config = config
        self.max_age_s = config.max_age_s
        self._epoch = config.epoch
        self._clock: Clock = clock or _EpochClock(config.epoch, wall)
        session = requests.Session()
        session.hooks["response"].append(_check_status)
        retry = Retry(
            total=config.retries,
            connect=config.retries,
            read=False,  # raise a read timeout at once instead of retrying it
            status=config.retries,
            other=0,
            backoff_factor=config.backoff_s,
            backoff_max=config.backoff_max_s,
            status_forcelist=RETRY_ON_STATUS,
            allowed_methods=frozenset({"GET", "POST"}),
            raise_on_status=False,  # hand the last answer to the hook, which names the status
            respect_retry_after_header=False,  # a Retry-After of minutes must not stall a loop
        )
        headers = None
        if config.bearer_token is not None:
            headers = {"Authorization": f"Bearer {config.bearer_token.get_secret_value()}"}
        self._client = PrometheusConnect(
            url=config.url.rstrip("/"),
            headers=headers,
            disable_ssl=not config.verify_tls,
            retry=retry,
            session=session,
            timeout=(config.connect_timeout_s, config.timeout_s),
        )

    def now(self) -> float:
        return self._clock.now()

    def close(self) -> None:
        self._client.close()

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except MetricsError:
            raise
        except requests.exceptions.Timeout as e:
            raise MetricsUnavailable(
                f"Prometheus at {self.config.url} did not answer {what} within "
                f"{self.config.timeout_s:g} s: {e}"
            ) from e
        except requests.exceptions.RequestException as e:
            raise MetricsUnavailable(
                f"Prometheus at {self.config.url} unreachable for {what}: {e}"
            ) from e
        except Exception as e:  # the library's own errors and malformed bodies
            raise MetricsUnavailable(f"Prometheus {what} failed: {type(e).__name__}: {e}") from e

    def query(self, promql: str, at: float | None = None) -> list[Sample]:
        params: dict[str, Any] = {}
        if at is not None:
            params["time"] = f"{at + self._epoch:.3f}"
        result = self._call("a query", lambda: self._client.custom_query(promql, params=params))
        samples = self._samples(result)
        return fresh(samples, self.now() if at is None else at, self.max_age_s)

    def _samples(self, result: Any) -> list[Sample]:
        # The library hands over only data.result: a list of {metric, value} for a vector,
        # [ts, "value"] for a scalar or string.
        if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
            if isinstance(result[1], str) and not _is_number(result[1]):
                raise QueryError("the query returned a string, not a number")
            return [Sample({}, _float(result[1]), _float(result[0]) - self._epoch)]
        if not isinstance(result, list):
            raise MetricsError(f"unexpected query result: {result!r:.200}")
        out = []
        for item in result:
            if not isinstance(item, dict) or "value" not in item:
                raise QueryError("the query returned a range vector; use query_range")
            ts, value = item["value"]
            out.append(
                Sample(dict(item.get("metric", {})), _float(value), _float(ts) - self._epoch)
            )
        return out

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[RangeSeries]:
        if not step > 0 or not math.isfinite(step):
            raise QueryError(f"step must be a positive number of seconds, got {step!r}")
        # The library rounds start/end to whole seconds; explicit params keep milliseconds.
        params = {"start": f"{start + self._epoch:.3f}", "end": f"{end + self._epoch:.3f}"}
        t0 = datetime.fromtimestamp(start + self._epoch, tz=UTC)
        t1 = datetime.fromtimestamp(end + self._epoch, tz=UTC)
        result = self._call(
            "a range query",
            lambda: self._client.custom_query_range(
                promql, start_time=t0, end_time=t1, step=f"{step:g}", params=params
            ),
        )
        if not isinstance(result, list):
            raise MetricsError(f"unexpected range query result: {result!r:.200}")
        out = []
        for item in result:
            points = tuple(
                (_float(ts) - self._epoch, _float(v)) for ts, v in item.get("values", [])
            )
            out.append(RangeSeries(dict(item.get("metric", {})), points))
        return out

    def is_online(self) -> bool:
        try:
            self._call("a liveness query", lambda: self._client.custom_query("1"))
        except MetricsError:
            return False
        return True


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
