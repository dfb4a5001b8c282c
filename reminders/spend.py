"""The spend guard: a clinic's monthly SMS segment budget.

A clinic with `sms_monthly_segments` has its texts' segments (the text as it went)
counted per calendar month of its time zone, once per recorded slice, in the
transaction that records the sends (`db/usage.py`). Clinics without a budget cost
nothing here: no row, no query, only a look at their cached settings.

- At 80 % of the month's budget: one warning per clinic and month, as a log line, a
  metric and a `sms_budget` alert for staff.
- At 100 %: `before_send` answers `OverBudget` for a text that would go. The text goes
  by email where the patient has an address and the clinic emails instead of texting
  (the reroute machinery: the patient's remaining texts move to email, each saying
  why); otherwise it is held, pending with its attempts unspent, until staff allow
  more this month (`allow`), the budget is raised, or the month ends, and the alert
  says how many wait. A held text whose step expires is skipped, and the alert says so.

Each worker reads a clinic's usage once per slice and counts its own sends on top, so
several workers together may pass the budget by up to a slice each: a budget is a
spending guard, not a billing meter.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from reminders import metrics
from reminders.clinic_rules import ClinicRules, ClinicRulesCache
from reminders.clock import Clock
from reminders.db import usage
from reminders.db.claims import ClaimedMessage
from reminders.db.models import Clinic, SmsUsage
from reminders.decisions import OverBudget, Send, SendContext, SmsBudget
from reminders.domain import ChannelKind, EventKind, MessageState
from reminders.errors import InputError, NotFoundError
from reminders.inputs import clean_text
from reminders.sms_encoding import sms_cost

log = logging.getLogger(__name__)

WARN_AT = 0.8
EXPIRED_HELD = "expired while held over the clinic's SMS budget"
ALLOW_HINT = "`reminders budget allow --segments N --by NAME` lets held texts go"


def month_of(at: datetime, zone: ZoneInfo) -> str:
    """The calendar month of `at` in `zone`, as "2026-11"."""
    return at.astimezone(zone).strftime("%Y-%m")


def next_month_start(at: datetime, zone: ZoneInfo) -> datetime:
    """Midnight starting the month after `at`'s, in `zone`, as a UTC instant."""
    local = at.astimezone(zone)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Settlement:
    """What the dispatcher records for a text over budget, and what follows in its
    transaction."""

    state: MessageState
    event: EventKind
    why: str
    then: Callable[[Session], object]
    values: dict[str, Any]


StopTexts = Callable[..., Callable[[Session], object]]


class SpendGuard:
    """The dispatcher's view of budgets: usage read once per slice for clinics with a
    budget, counted up as texts are decided, and recorded with the slice's sends."""

    def __init__(self, sessions: sessionmaker[Session], rules: ClinicRulesCache) -> None:
        self._sessions = sessions
        self._rules = rules
        self._budgets: dict[tuple[int, str], SmsBudget] = {}
        self._noted: list[tuple[int, int, str, int, int]] = []  # id, clinic, month, segs, limit

    def rules(self, message: ClaimedMessage) -> ClinicRules:
        return self._rules.get(message.clinic_id, message.clinic_updated_at)

    def new_slice(self) -> None:
        """Read usage afresh: other workers send for the same clinics."""
        self._budgets.clear()
        self._noted.clear()

    def context(self, message: ClaimedMessage, context: SendContext, now: datetime) -> SendContext:
        """The send context with the clinic's budget, for a text of a clinic with one."""
        if message.channel is not ChannelKind.SMS:
            return context
        rules = self.rules(message)
        if rules.sms_monthly_segments is None:
            return context
        month = month_of(now, rules.zone)
        budget = self._budgets.get((message.clinic_id, month))
        if budget is None:
            with self._sessions() as session:
                used, allowed = usage.used(session, clinic_id=message.clinic_id, month=month)
            budget = SmsBudget(month, used, rules.sms_monthly_segments + allowed)
            self._budgets[message.clinic_id, month] = budget
        return dataclasses.replace(context, sms_budget=budget)

    def note_send(self, message: ClaimedMessage, send: Send, context: SendContext) -> None:
        """Count a text about to go against its clinic's budget (if it has one)."""
        budget = context.sms_budget
        if budget is None:
            return
        segments = sms_cost(send.body).segments
        key = (message.clinic_id, budget.month)
        self._budgets[key] = dataclasses.replace(budget, used=budget.used + segments)
        self._noted.append((message.id, message.clinic_id, budget.month, segments, budget.limit))

    def record(self, session: Session, recorded: set[int], now: datetime) -> set[int]:
        """Add the recorded texts' segments to their clinics' months, in the transaction
        that records them, and warn once a month's use reaches 80 %."""
        # Kept until the next slice: a transaction retried after a database outage
        # counts them again, once.
        if not self._noted:
            return recorded
        totals: dict[tuple[int, str], list[int]] = {}
        for message_id, clinic_id, month, segments, limit in self._noted:
            if message_id in recorded:
                totals.setdefault((clinic_id, month), [0, limit])[0] += segments
        for (clinic_id, month), (segments, limit) in totals.items():
            usage.add_segments(
                session, clinic_id=clinic_id, month=month, segments=segments, now=now
            )
            _warn(session, clinic_id, month, limit, now)
        return recorded

    def over_budget(
        self, message: ClaimedMessage, decision: OverBudget, stop_texts: StopTexts, now: datetime
    ) -> Settlement:
        """By email where the patient can take it (their remaining texts too), else held."""
        rules = self.rules(message)
        if message.email and rules.email_fallback:
            metrics.SMS_BUDGET.labels("emailed").inc()
            why = f"{decision.why}; the patient's texts go by email instead"
            then = stop_texts(message, why, patient=True)
            return Settlement(MessageState.SKIPPED, EventKind.SKIPPED, why, then, {"reason": why})
        metrics.SMS_BUDGET.labels("held").inc()
        until = next_month_start(now, rules.zone)
        why = f"{decision.why}; held for a staff decision, at the latest until the month ends"

        def alert(session: Session) -> object:
            waiting = usage.held_count(session, clinic_id=message.clinic_id)
            return usage.set_alert(
                session,
                clinic_id=message.clinic_id,
                detail=f"SMS budget used up ({decision.why.partition(': ')[2]}): {waiting} "
                f"text(s) held, no email to send instead; {ALLOW_HINT}, or they go when "
                "the month ends",
                now=now,
            )

        values = {
            "attempts": message.attempts - 1,
            "send_after": until,
            "held_for": usage.HELD_FOR_BUDGET,
        }
        return Settlement(MessageState.PENDING, EventKind.HELD, why, alert, values)


def _warn(session: Session, clinic_id: int, month: str, limit: int, now: datetime) -> None:
    used = usage.warn_once(session, clinic_id=clinic_id, month=month, limit=limit, now=now)
    if used is None:
        return
    percent = used * 100 // limit
    log.warning(
        "SMS budget %d%% used",
        percent,
        extra={"clinic_id": clinic_id, "month": month, "segments": used, "limit": limit},
    )
    metrics.SMS_BUDGET.labels("warned").inc()
    usage.set_alert(
        session,
        clinic_id=clinic_id,
        detail=f"SMS budget {percent} % used: {used} of {limit} segments in {month}; at "
        "100 % texts go by email where the patient has an address, and are held otherwise",
        now=now,
        # Added, not replacing: texts held earlier in the same slice made the status
        # "used up", which must stay the alert's first line.
        append=True,
    )


def sweep(session: Session, *, now: datetime) -> int:
    """Held texts: those whose step expired are skipped (the alert says which), those of
    a clinic whose budget has room again (more allowed, a higher budget or none, a new
    month) go back to the queue. Returns how many expired."""
    expired = usage.expire_held(session, now=now, reason=EXPIRED_HELD)
    by_clinic = defaultdict(list)
    for message in expired:
        by_clinic[message.clinic_id].append(
            f"{message.step_id} of treatment {message.treatment_id}"
        )
    for clinic_id, steps in by_clinic.items():
        metrics.SMS_BUDGET.labels("expired").inc(len(steps))
        usage.set_alert(
            session,
            clinic_id=clinic_id,
            detail=f"{EXPIRED_HELD}, never sent: {', '.join(steps)}",
            now=now,
            append=True,
        )
    for clinic_id in usage.clinics_holding(session):
        room = _room(session, clinic_id, now)
        if room is not None:
            released = usage.release(session, clinic_id=clinic_id, now=now, detail=room)
            metrics.SMS_BUDGET.labels("released").inc(len(released))
    return len(expired)


def _room(session: Session, clinic_id: int, now: datetime) -> str | None:
    """Why the clinic's held texts may go now, or None while its budget is used up."""
    clinic = session.get(Clinic, clinic_id)
    assert clinic is not None
    budget = clinic.sms_monthly_segments
    if budget is None:
        return "released: the clinic no longer has an SMS budget"
    month = month_of(now, ZoneInfo(clinic.timezone))
    used, allowed = usage.used(session, clinic_id=clinic_id, month=month)
    if used >= budget + allowed:
        return None
    return (
        f"released: the SMS budget has room ({used} of {budget + allowed} segments used in {month})"
    )


@dataclass(frozen=True)
class BudgetStatus:
    """A clinic's SMS budget this month, for staff."""

    slug: str
    month: str
    budget: int | None
    allowed: int  # added for this month by staff
    used: int
    held: int  # texts waiting for a staff decision
    allowed_by: str | None


def status(session: Session, clinic: Clinic, now: datetime) -> BudgetStatus:
    month = month_of(now, ZoneInfo(clinic.timezone))
    used, allowed = usage.used(session, clinic_id=clinic.id, month=month)
    row = session.get(SmsUsage, (clinic.id, month))
    return BudgetStatus(
        clinic.slug,
        month,
        clinic.sms_monthly_segments,
        allowed,
        used,
        usage.held_count(session, clinic_id=clinic.id),
        row.allowed_by if row else None,
    )


def allow(session: Session, clinic: Clinic, *, segments: int, by: str, now: datetime) -> None:
    """Staff let this month's texts go over the budget by `segments` more: recorded with who
    and when on the month's usage and its alert (acknowledged by them). Held texts go
    on the worker's next pass, in due order, until the raised limit is reached."""
    month = month_of(now, ZoneInfo(clinic.timezone))
    used, allowed = usage.allow(
        session, clinic_id=clinic.id, month=month, segments=segments, by=by, now=now
    )
    log.info(
        "SMS budget allowance raised",
        extra={"clinic_id": clinic.id, "month": month, "allowed": allowed, "segments": used},
    )
    usage.set_alert(
        session,
        clinic_id=clinic.id,
        detail=f"{segments} more segments allowed for {month} by {by} "
        f"(now {allowed} over the budget)",
        now=now,
        append=True,
    )
    usage.acknowledge_alert(session, clinic_id=clinic.id, by=by, now=now)


class Budgets:
    """Staff's view of a clinic's SMS budget: this month's use, and more allowed."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def status(self, slug: str) -> BudgetStatus:
        with self.sessions() as session:
            return status(session, _clinic(session, slug), self.clock.now())

    def allow(self, slug: str, *, segments: int, by: str) -> BudgetStatus:
        by = clean_text(by, field="by", longest=80)
        now = self.clock.now()
        with self.sessions.begin() as session:
            clinic = _clinic(session, slug)
            if clinic.sms_monthly_segments is None:
                raise InputError("clinic", f"clinic {slug!r} has no SMS budget")
            allow(session, clinic, segments=segments, by=by, now=now)
            return status(session, clinic, now)


def _clinic(session: Session, slug: str) -> Clinic:
    clinic = session.scalars(select(Clinic).where(Clinic.slug == slug)).one_or_none()
    if clinic is None:
        raise NotFoundError(f"no clinic {slug!r}")
    return clinic
