"""Randomised properties of the planner and the send-time decision (hypothesis).

Treatments anywhere (zones with half-hour and 45-minute offsets, DST days), logged on
time or late, at any restriction length the policy supports, with or without quiet
hours, planned with the shipped policy's windows; then each planned message decided at
its due time and at random later moments, as a worker would after a delay. For every
plan and every decision:

- never early: nothing is due before its natural time, an all-clear or window-end
  message never before its window ends;
- never stale: nothing is due at or after its expiry, and a text is never sent with
  less validity left than a second;
- never in the quiet hours for a step that may wait;
- nothing dropped without a reason: a skipped step, or a skip at send time, says why;
- every text within the two-segment budget (the clinic names here are realistic ones).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reminders.decisions import Hold, Reroute, Send, SendContext, Skip, before_send
from reminders.domain import ChannelKind, ClinicProfile, PatientProfile, QuietHours
from reminders.localtime import in_span
from reminders.planning import Plan, PlannedStep, plan_treatment
from reminders.policies import Policy, load_policies
from reminders.sms_encoding import SEGMENT_BUDGET, sms_cost
from tests.conftest import CONFIG_DIR
from tests.unit.test_decisions import Due

ZONES = [
    "America/New_York",
    "Europe/London",
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "Australia/Adelaide",  # +09:30 / +10:30, DST
    "Australia/Lord_Howe",  # a 30-minute DST change, numeric abbreviations
    "Pacific/Chatham",  # +12:45 / +13:45, DST
    "America/St_Johns",  # -03:30 / -02:30, DST
    "Pacific/Kiritimati",  # +14
    "UTC",
]
# Instants around the DST changes of 2026 in these zones, and ordinary days.
DAYS = [
    datetime(2026, 3, 8, tzinfo=UTC),
    datetime(2026, 3, 29, tzinfo=UTC),
    datetime(2026, 4, 5, tzinfo=UTC),
    datetime(2026, 9, 27, tzinfo=UTC),
    datetime(2026, 10, 4, tzinfo=UTC),
    datetime(2026, 10, 25, tzinfo=UTC),
    datetime(2026, 11, 1, tzinfo=UTC),
    datetime(2026, 11, 27, tzinfo=UTC),
]
NAMES = ["Harbor Skin Clinic", "Dr O'Brien's Aesthetics & Skin Clinic of Greater Manhattan"]


@cache
def botox() -> Policy:
    policy = load_policies(CONFIG_DIR / "policies").get("botox")
    assert policy is not None
    return policy


@cache
def transitions(zone: str) -> list[datetime]:
    """The instants in 2026 where the zone's clocks change (its UTC offset moves)."""
    tz = ZoneInfo(zone)
    found = []
    at = datetime(2026, 1, 1, tzinfo=UTC)
    while at.year == 2026:
        later = at + timedelta(minutes=30)
        if at.astimezone(tz).utcoffset() != later.astimezone(tz).utcoffset():
            found.append(later)
        at = later
    return found


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[ClinicProfile, datetime, timedelta]:
    """A clinic, a treatment time and a restriction; often with a window ending close to
    a clock change in the clinic's zone, where local times repeat or are skipped."""
    clinic = draw(clinics())
    restriction = draw(restrictions)
    changes = transitions(clinic.timezone.key)
    if changes and draw(st.booleans()):
        change = draw(st.sampled_from(changes))
        length = draw(st.sampled_from([restriction, timedelta(hours=4)]))
        treatment_at = change - length + timedelta(minutes=draw(st.integers(-90, 90)))
    else:
        treatment_at = draw(treatment_times)
    return clinic, treatment_at, restriction


@st.composite
def clinics(draw: st.DrawFn) -> ClinicProfile:
    quiet = draw(
        st.one_of(
            st.none(),
            st.tuples(st.integers(19, 23), st.integers(5, 9)).map(
                lambda hours: QuietHours(time(hours[0], 0), time(hours[1], 30))
            ),
        )
    )
    return ClinicProfile(
        name=draw(st.sampled_from(NAMES)),
        phone_display="(212) 555-0143",
        timezone=ZoneInfo(draw(st.sampled_from(ZONES))),
        restriction=timedelta(hours=4),
        quiet_hours=quiet,
        default_channel=ChannelKind.SMS,
        clock_24h=draw(st.booleans()),
    )


treatment_times = st.builds(
    lambda day, minutes: day + timedelta(minutes=minutes),
    st.sampled_from(DAYS),
    st.integers(-36 * 60, 36 * 60),
)
restrictions = st.integers(4 * 60, 24 * 60).map(lambda m: timedelta(minutes=m))
log_delays = st.one_of(
    st.just(timedelta(0)),
    st.integers(1, 24 * 60 * 60).map(lambda s: timedelta(seconds=s)),
)
send_delays = st.lists(
    st.integers(0, 30 * 60 * 60).map(lambda s: timedelta(seconds=s)), min_size=1, max_size=4
)


def _plan(
    clinic: ClinicProfile, treatment_at: datetime, restriction: timedelta, delay: timedelta
) -> Plan:
    return plan_treatment(
        treatment_at=treatment_at,
        policy=botox(),
        clinic=clinic,
        patient=PatientProfile(name="Ann Lee", has_phone=True, has_email=False),
        now=treatment_at + delay,
        restriction=restriction,
    )


def _in_quiet_hours(at: datetime, clinic: ClinicProfile) -> bool:
    quiet = clinic.quiet_hours
    local = at.astimezone(clinic.timezone).time()
    return quiet is not None and in_span(local, quiet.start, quiet.end)


def _may_wait(step: PlannedStep) -> bool:
    found = botox().step(step.step_id)
    assert found is not None
    return found.may_wait


def _window_end(plan: Plan, step: PlannedStep) -> datetime | None:
    if step.step_id == "all_clear":
        return plan.restriction_end
    if ":" in step.step_id:
        group = step.step_id.partition(":")[2]
        [end] = [g.end for g in plan.windows if g.id == group]
        return end
    return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), log_delays)
def test_every_plan_is_never_early_never_stale_quiet_and_within_budget(
    scenario: tuple[ClinicProfile, datetime, timedelta], delay: timedelta
) -> None:
    clinic, treatment_at, restriction = scenario
    plan = _plan(clinic, treatment_at, restriction, delay)
    logged = treatment_at + delay
    assert plan.steps[0].step_id == "avoid"
    assert plan.steps[-1].step_id == "all_clear"
    for step in plan.steps:
        if step.skipped:
            assert step.skip_reason  # a reason, always
            continue
        assert step.due_at >= step.natural_at
        assert step.due_at >= logged
        end = _window_end(plan, step)
        if end is not None:
            assert step.due_at >= end  # never before the window it clears has ended
        if step.expires_at is not None:
            assert step.due_at < step.expires_at
        if _may_wait(step):
            assert not _in_quiet_hours(step.due_at, clinic)
        assert sms_cost(step.body).segments <= SEGMENT_BUDGET, step.body
        assert "{" not in step.body
        # No raw UTC offsets ("+11", "+0530") in a patient's text.
        assert "+0" not in step.body
        assert "+1" not in step.body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), log_delays, send_delays)
def test_every_send_time_decision_keeps_the_same_promises(
    scenario: tuple[ClinicProfile, datetime, timedelta],
    delay: timedelta,
    late: list[timedelta],
) -> None:
    clinic, treatment_at, restriction = scenario
    plan = _plan(clinic, treatment_at, restriction, delay)
    context = SendContext(clinic, botox(), clinic.timezone, restriction)
    for step in plan.steps:
        if step.skipped:
            continue
        message = Due(
            channel=step.channel,
            step_id=step.step_id,
            due_at=step.due_at,
            expires_at=step.expires_at,
            not_before=step.not_before,
            subject=step.subject,
            body=step.body,
            policy_version=plan.policy_version,
            performed_at=plan.treatment_at,
        )
        for after in late:
            now = step.due_at + after
            decision = before_send(message, now=now, context=context)
            assert not isinstance(decision, Reroute)  # consent on record, no opt-out
            if isinstance(decision, Skip):
                assert decision.why
                continue
            if isinstance(decision, Hold):
                assert decision.until > now
                assert decision.why
                continue
            assert isinstance(decision, Send)
            if step.not_before is not None:
                assert now >= step.not_before
            if step.expires_at is not None:
                assert now < step.expires_at
                assert decision.valid_for is not None
                assert decision.valid_for >= timedelta(seconds=1)
            if _may_wait(step):
                assert not _in_quiet_hours(now, clinic)
            assert sms_cost(decision.body).segments <= SEGMENT_BUDGET, decision.body
