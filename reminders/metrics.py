"""What the service counts, in the Prometheus text format (`/metrics`).

Counters and histograms are kept per process: the API's `/metrics` shows what that
process did (in `serve`, the worker's work too), and each `reminders worker` serves
its own on a port of its own. The queue's depth is read from the database when a
scrape asks, so any one process shows the whole queue.

Labels stay few: channel, outcome, state, kind. No clinic label: an operator running
hundreds of clinics would get hundreds of series per metric; per-clinic questions are
the audit export's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from reminders.clock import Clock
from reminders.db.engine import read_only_sessions
from reminders.db.models import PENDING_ROW, SENDING_ROW, Alert, Message

# No `*_created` series: they double the output and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

SENDS = Counter(
    "reminders_sends",
    "Messages settled by a worker, by channel and outcome "
    "(sent, retried, held, failed, skipped, released).",
    ["channel", "outcome"],
    registry=REGISTRY,
)
LATENESS = Histogram(
    "reminders_send_lateness_seconds",
    "How long after its due time a message was handed to its provider.",
    ["channel"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
    registry=REGISTRY,
)
PROVIDER_CALLS = Histogram(
    "reminders_provider_call_seconds",
    "Duration of each call to a provider (Twilio, the SMTP relay, the console), by result.",
    ["channel", "result"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
SEGMENTS = Counter(
    "reminders_sms_segments",
    "SMS segments handed to the provider (what a carrier bills).",
    registry=REGISTRY,
)
CLAIMS = Counter(
    "reminders_claimed_messages", "Messages claimed by this process's worker.", registry=REGISTRY
)
LEASE_EXPIRIES = Counter(
    "reminders_lease_expiries",
    "Claims taken back after their lease expired (a worker that stopped mid-claim).",
    registry=REGISTRY,
)
RECONCILIATIONS = Counter(
    "reminders_reconciliations",
    "Sends whose outcome was unknown, looked for at the provider before sending again: "
    "found there (adopted, not sent again) or not found (sent again).",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOKS = Counter(
    "reminders_webhooks",
    "Provider callbacks received, by kind (status, inbound) and result.",
    ["kind", "result"],
    registry=REGISTRY,
)
REPLIES = Counter(
    "reminders_replies",
    "Patients' texts received, by what they were (opt_out, opt_in, help, reply).",
    ["kind"],
    registry=REGISTRY,
)
FLAGS = Counter(
    "reminders_reply_flags",
    "Replies flagged for the clinic, by category (emergency, clinical, opt_out_request).",
    ["category"],
    registry=REGISTRY,
)

# No clinic label here either: which clinic is in the alert and the log line.
SMS_BUDGET = Counter(
    "reminders_sms_budget_events",
    "Clinics' monthly SMS budgets: 80 % warnings (warned), texts over budget sent by "
    "email instead (emailed) or held for staff (held), held texts released or expired.",
    ["event"],
    registry=REGISTRY,
)

EXPIRED = Counter(
    "reminders_expired_messages",
    "Pending messages skipped unsent because their step stopped being true.",
    registry=REGISTRY,
)


# -- What the worker reports (a few calls in the send path; each costs about a microsecond).


def sent(channel: str, *, due_at: datetime, sent_at: datetime) -> None:
    SENDS.labels(channel, "sent").inc()
    LATENESS.labels(channel).observe(max((sent_at - due_at).total_seconds(), 0.0))


def settled(channel: str, outcome: str) -> None:
    SENDS.labels(channel, outcome).inc()


def provider_call(channel: str, seconds: float, *, ok: bool) -> None:
    PROVIDER_CALLS.labels(channel, "ok" if ok else "error").observe(seconds)


def segments(count: int) -> None:
    SEGMENTS.inc(count)


def housekeeping(*, recovered: int, expired: int) -> None:
    LEASE_EXPIRIES.inc(recovered)
    EXPIRED.inc(expired)


class QueueCollector(Collector):
    """The queue as the database holds it, read at each scrape through the partial
    indexes of pending and sending rows: cheap however much history there is."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._reads = read_only_sessions(sessions)
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._clock.now()
        with self._reads() as session:
            depth = _depth(session)
            due, oldest = _due_now(session, now)
            alerts = session.scalar(
                select(func.count()).select_from(Alert).where(Alert.acknowledged_at.is_(None))
            )
        queue = GaugeMetricFamily(
            "reminders_queue_messages",
            "Messages waiting or being sent, by state.",
            labels=["state"],
        )
        for state in ("pending", "sending"):
            queue.add_metric([state], depth.get(state, 0))
        yield queue
        yield GaugeMetricFamily(
            "reminders_queue_due_messages", "Pending messages already due (a backlog).", value=due
        )
        yield GaugeMetricFamily(
            "reminders_queue_oldest_due_seconds",
            "How long the oldest due message has waited (0: none is due).",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )
        yield GaugeMetricFamily(
            "reminders_open_alerts",
            "Alerts no staff member has acknowledged yet.",
            value=alerts or 0,
        )


class _ProcessCounters(Collector):
    """This process's counters and histograms, inside a scrape's own registry."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def scrape_registry(sessions: sessionmaker[Session], clock: Clock) -> CollectorRegistry:
    """What one `/metrics` answers: this process's counters and the queue's gauges."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProcessCounters())
    registry.register(QueueCollector(sessions, clock))
    return registry


def serve_metrics(
    sessions: sessionmaker[Session], clock: Clock, *, host: str, port: int
) -> Callable[[], None]:
    """Serve /metrics from a daemon thread (a worker has no HTTP server of its own);
    returns what stops it."""
    server, thread = start_http_server(port, addr=host, registry=scrape_registry(sessions, clock))

    def stop() -> None:
        server.shutdown()
        thread.join()
        server.server_close()

    return stop


def _depth(session: Session) -> dict[str, int]:
    depth: dict[str, int] = {}
    for state, row in (("pending", PENDING_ROW), ("sending", SENDING_ROW)):
        depth[state] = session.scalar(select(func.count()).where(Message.state == row)) or 0
    return depth


def _due_now(session: Session, now: datetime) -> tuple[int, datetime | None]:
    row = session.execute(
        select(func.count(), func.min(Message.send_after)).where(
            Message.state == PENDING_ROW, Message.send_after <= now
        )
    ).one()
    return int(row[0] or 0), row[1]
