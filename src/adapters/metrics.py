"""Prometheus metrics behind the Metrics port; names are declared here, never from user input."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

COUNTERS = {
    "visits_tracked": "Visits recorded for non-bot product page views",
    "bots_filtered": "Product page views by known bots and crawlers, not counted as visits",
    "tracking_failures": "Tracking errors swallowed so the product page still answered",
    "visits_written": "Visits written to the database by the buffer",
    "visits_dropped": "Visits dropped because the buffer was full while the database was down",
    "visit_flush_failures": "Failed buffer flushes (retried with backoff)",
    "visits_aggregated": "Visits folded into the daily analytics",
    "emails_sent": "Recipients whose e-mail the provider accepted",
    "notifications_failed": "Notifications that failed permanently",
    "email_send_failures": "E-mail sends that failed and will be retried (provider or network)",
    "outbox_relay_failures": "Outbox relay passes that found the broker unavailable",
    "aggregation_enqueue_failures": "Aggregation triggers that found the broker unavailable",
    "database_unavailable": "Requests answered 503 because the database could not be reached",
    "salt_cleanup_failures": "Aggregation runs that could not destroy past days' salts (retried)",
}
HISTOGRAMS = {
    "aggregation_seconds": "Duration of an update_analytics run",
}


class PrometheusMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._counters = {
            name: Counter(f"footfall_{name}", doc, registry=registry)
            for name, doc in COUNTERS.items()
        }
        self._histograms = {
            name: Histogram(f"footfall_{name}", doc, registry=registry)
            for name, doc in HISTOGRAMS.items()
        }

    def increment(self, name: str, amount: float = 1) -> None:
        self._counters[name].inc(amount)

    def observe(self, name: str, value: float) -> None:
        self._histograms[name].observe(value)
