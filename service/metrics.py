"""Prometheus metrics: request latency (middleware), fit durations and queue depth (from the DB)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.store.repositories import FitJobRepository, FitRepository


class FitCollector(Collector):
    """Read at scrape time: fits are run by the worker process, the database is the truth."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def collect(self) -> Iterator[Any]:
        with self.session_factory() as session:
            depth = FitJobRepository(session).count_queued()
            by_status = FitRepository(session).count_by_status()
            total, count = FitRepository(session).sum_and_count_of_finished_seconds()
        queue = GaugeMetricFamily("helsinki_fit_queue_depth", "Fit jobs waiting for a worker")
        queue.add_metric([], depth)
        yield queue
        fits = CounterMetricFamily("helsinki_fits", "Fits by status", labels=["status"])
        for status, n in sorted(by_status.items()):
            fits.add_metric([status], n)
        yield fits
        seconds = SummaryMetricFamily("helsinki_fit_duration_seconds", "Wall time of fits")
        seconds.add_metric([], count_value=count, sum_value=total)
        yield seconds


class Metrics:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "helsinki_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.registry.register(FitCollector(session_factory))


class RequestTimer:
    """ASGI middleware: observes each request's latency by route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.request_seconds.labels(scope["method"], path, str(status[0])).observe(
                time.perf_counter() - started
            )
