"""Prometheus metrics of the tracking API: what came in, what was stored, what was refused, how fast;
and of the automatic pipeline runs that follow (runs, failures, last duration, pending work).

The web process counts requests and messages as it answers; the loader's counts (stored,
duplicates, conflicts, quarantined after loading) come from the store worker's last reported
state, and the spool's backlog from the spool itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _LoaderCollector(Collector):
    def __init__(self, state: Callable[[], dict[str, Any]]) -> None:
        self._state = state

    def collect(self) -> Iterator[Any]:
        state = self._state()
        totals = state.get("totals") or {}
        for name, help_text in (
            ("stored", "Messages the loader stored (first copies)."),
            ("duplicates", "Messages not stored again: client retries and repeats."),
            ("conflicts", "Repeated messageIds with other content (the first copy is kept)."),
            ("loaded_quarantined", "Messages quarantined by the loader (new rows)."),
        ):
            key = "quarantined" if name == "loaded_quarantined" else name
            metric = CounterMetricFamily(f"profilo_collect_{name}", help_text)
            metric.add_metric([], float(totals.get(key, 0)))
            yield metric
        backlog = GaugeMetricFamily(
            "profilo_collect_spool_backlog_bytes", "Acknowledged bytes not yet stored."
        )
        backlog.add_metric([], float(state.get("backlog_bytes", 0)))
        yield backlog
        syncs = CounterMetricFamily("profilo_collect_spool_fsyncs", "fsync calls of the spool.")
        syncs.add_metric([], float(state.get("syncs", 0)))
        yield syncs
        alive = GaugeMetricFamily("profilo_collect_worker_up", "1 when the store worker runs.")
        alive.add_metric([], 1.0 if state.get("worker_alive") else 0.0)
        yield alive
        yield from _pipeline_metrics(state.get("pipeline") or {})


def _pipeline_metrics(pipeline: dict[str, Any]) -> Iterator[Any]:
    """The automatic pipeline runs of the store worker (see ``profilo.pipeline.schedule``)."""
    for name, key, help_text in (
        ("runs", "runs", "Automatic pipeline runs after collected messages (failed ones too)."),
        ("failures", "failures", "Automatic pipeline runs that failed (logged by the worker)."),
    ):
        metric = CounterMetricFamily(f"profilo_pipeline_{name}", help_text)
        metric.add_metric([], float(pipeline.get(key) or 0))
        yield metric
    last = GaugeMetricFamily(
        "profilo_pipeline_last_run_seconds", "Duration of the last automatic pipeline run."
    )
    last.add_metric([], float(pipeline.get("last_seconds") or 0.0))
    yield last
    pending = GaugeMetricFamily(
        "profilo_pipeline_pending", "1 when stored messages wait for the next automatic run."
    )
    pending.add_metric([], 1.0 if pipeline.get("pending") else 0.0)
    yield pending


class Metrics:
    """The counters and histograms of one application (its own registry, so apps don't clash)."""

    def __init__(self, loader_state: Callable[[], dict[str, Any]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.received = Counter(
            "profilo_collect_received",
            "Messages received in accepted requests.",
            ["source"],
            registry=self.registry,
        )
        self.quarantined = Counter(
            "profilo_collect_quarantined",
            "Messages quarantined when received, by reason.",
            ["source", "reason"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "profilo_collect_rejected_requests",
            "Requests refused as a whole, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "profilo_collect_request_seconds",
            "Time to answer a tracking request (spool fsync included).",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_LoaderCollector(loader_state))
        self._received: dict[str, Any] = {}
        self._latency: dict[str, Any] = {}
        self._rejected: dict[str, Any] = {}

    def count_received(self, source: str, n: int) -> None:
        child = self._received.get(source)
        if child is None:
            child = self._received[source] = self.received.labels(source)
        child.inc(n)

    def count_quarantined(self, source: str, reason: str) -> None:
        self.quarantined.labels(source, reason).inc()

    def count_rejected(self, reason: str) -> None:
        child = self._rejected.get(reason)
        if child is None:
            child = self._rejected[reason] = self.rejected.labels(reason)
        child.inc()

    def observe(self, endpoint: str, seconds: float) -> None:
        child = self._latency.get(endpoint)
        if child is None:
            child = self._latency[endpoint] = self.latency.labels(endpoint)
        child.observe(seconds)
