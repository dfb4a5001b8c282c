"""The pure planner: treatment + policy + clinic + patient + now -> planned messages.

Every time is passed explicitly. The shipped botox policy has two steps:
`avoid` (due at treatment, expires at the restriction end, never waits) and
`all_clear` (due at the restriction end, never before it, useful for 12 h, may wait).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest

from reminders.domain import ChannelKind, ClinicProfile, PatientProfile
from reminders.planning import Plan, PlannedStep, choose_channel, plan_treatment
from reminders.policies import Policy, load_policies
from tests.conftest import CONFIG_DIR, clinic_settings

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
PATIENT = PatientProfile(name="Ann Lee", has_phone=True, has_email=True)
# Friday 2026-11-27 10:00 EST: a daytime treatment clear of DST and quiet hours.
T = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
S = timedelta(seconds=1)


@cache
def botox() -> Policy:
    policy = load_policies(CONFIG_DIR / "policies").get("botox")
    assert policy is not None
    return policy


def make_plan(
    treatment_at: datetime,
    *,
    now: datetime | None = None,
    patient: PatientProfile = PATIENT,
    **clinic: object,
) -> Plan:
    return plan_treatment(
        treatment_at=treatment_at,
        policy=botox(),
        clinic=clinic_settings(**clinic).profile(),
        patient=patient,
        now=treatment_at if now is None else now,
    )


def step(plan: Plan, step_id: str) -> PlannedStep:
    (found,) = [s for s in plan.steps if s.step_id == step_id]
    return found


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- the plan's shape ---------------------------------------------------------------------


def test_plan_has_the_policy_steps_in_order() -> None:
    assert [s.step_id for s in make_plan(T).steps] == ["avoid", "all_clear"]


def test_plan_restriction_end_is_treatment_plus_restriction() -> None:
    plan = make_plan(T)
    assert plan.treatment_at == T
    assert plan.restriction_end == T + 4 * H


def test_plan_records_the_policy_version() -> None:
    plan = make_plan(T)
    assert plan.policy_version == botox().version
    assert re.fullmatch(r"botox@[0-9a-f]{12}", plan.policy_version)


@pytest.mark.parametrize(
    "now",
    [T - timedelta(days=2), T, T + H, T + 5 * H, T + 17 * H],
    ids=["future", "on-time", "1h-late", "5h-late", "17h-late"],
)
def test_plan_records_the_policy_version_whatever_is_skipped(now: datetime) -> None:
    assert make_plan(T, now=now).policy_version == botox().version


def test_plan_refuses_a_naive_treatment_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        make_plan(datetime(2026, 11, 27, 10, 0), now=T)


def test_avoid_is_due_at_treatment_and_expires_at_restriction_end() -> None:
    avoid = step(make_plan(T), "avoid")
    assert avoid.natural_at == T
    assert avoid.due_at == T
    assert avoid.expires_at == T + 4 * H
    assert avoid.not_before is None
    assert avoid.skip_reason is None
    assert avoid.note is None


def test_all_clear_is_due_at_restriction_end_and_useful_for_12_hours() -> None:
    all_clear = step(make_plan(T), "all_clear")
    assert all_clear.natural_at == T + 4 * H
    assert all_clear.due_at == T + 4 * H
    assert all_clear.not_before == T + 4 * H
    assert all_clear.expires_at == T + 16 * H
    assert all_clear.skip_reason is None
    assert all_clear.note is None


def test_on_time_sms_texts() -> None:
    plan = make_plan(T)
    assert step(plan, "avoid").body == (
        "Harbor Skin Clinic: for the next 4 hours (until 2:00 PM) please avoid exercise, "
        "facials, rubbing the treated area, lying flat and bending over. Drooping eyelid, "
        "severe swelling or bruising? No exercise; call (212) 555-0143"
    )
    assert step(plan, "all_clear").body == (
        "Harbor Skin Clinic: your aftercare window has ended: you can exercise, have facials, "
        "touch the treated area, lie flat and bend over as usual. Exercise will not decrease "
        "your result. Drooping eyelid, severe swelling or bruising? Call (212) 555-0143"
    )


def test_plan_times_are_utc() -> None:
    plan = make_plan(T.astimezone(NY), now=T.astimezone(LONDON))
    assert plan.treatment_at.tzinfo is UTC
    for s in plan.steps:
        assert s.natural_at.tzinfo is UTC
        assert s.due_at.tzinfo is UTC


# --- offsets are elapsed time across DST ------------------------------------------------------

DST_CASES = [
    # (treatment as local wall time, clinic zone, restriction end in UTC, "until" in the SMS)
    pytest.param(
        datetime(2026, 3, 8, 0, 30, tzinfo=NY),
        NY,
        utc(2026, 3, 8, 9, 30),
        "until 5:30 AM)",
        id="ny-spring-0030-est-to-0530-edt",
    ),
    pytest.param(
        datetime(2026, 3, 7, 23, 30, tzinfo=NY),
        NY,
        utc(2026, 3, 8, 8, 30),
        "until 4:30 AM tomorrow)",
        id="ny-spring-2330-est-to-0430-edt",
    ),
    pytest.param(
        datetime(2026, 10, 31, 23, 30, tzinfo=NY),
        NY,
        utc(2026, 11, 1, 7, 30),
        "until 2:30 AM tomorrow)",
        id="ny-fall-2330-edt-to-0230-est",
    ),
    pytest.param(
        datetime(2026, 11, 1, 0, 30, tzinfo=NY),
        NY,
        utc(2026, 11, 1, 8, 30),
        "until 3:30 AM)",
        id="ny-fall-0030-edt-to-0330-est",
    ),
    pytest.param(
        datetime(2026, 10, 31, 21, 30, tzinfo=NY),
        NY,
        utc(2026, 11, 1, 5, 30),
        "until 1:30 AM EDT tomorrow)",
        id="ny-fall-ends-in-first-repeated-hour",
    ),
    pytest.param(
        datetime(2026, 10, 31, 22, 30, tzinfo=NY),
        NY,
        utc(2026, 11, 1, 6, 30),
        "until 1:30 AM EST tomorrow)",
        id="ny-fall-ends-in-second-repeated-hour",
    ),
    pytest.param(
        datetime(2026, 3, 28, 23, 0, tzinfo=LONDON),
        LONDON,
        utc(2026, 3, 29, 3, 0),
        "until 4:00 AM tomorrow)",
        id="london-spring-2300-gmt-to-0400-bst",
    ),
    pytest.param(
        datetime(2026, 3, 29, 0, 30, tzinfo=LONDON),
        LONDON,
        utc(2026, 3, 29, 4, 30),
        "until 5:30 AM)",
        id="london-spring-0030-gmt-to-0530-bst",
    ),
    pytest.param(
        datetime(2026, 10, 25, 0, 30, tzinfo=LONDON),
        LONDON,
        utc(2026, 10, 25, 3, 30),
        "until 3:30 AM)",
        id="london-fall-0030-bst-to-0330-gmt",
    ),
    pytest.param(
        datetime(2026, 10, 24, 21, 30, tzinfo=LONDON),
        LONDON,
        utc(2026, 10, 25, 0, 30),
        "until 1:30 AM BST tomorrow)",
        id="london-fall-ends-in-first-repeated-hour",
    ),
    pytest.param(
        datetime(2026, 10, 24, 22, 30, tzinfo=LONDON),
        LONDON,
        utc(2026, 10, 25, 1, 30),
        "until 1:30 AM GMT tomorrow)",
        id="london-fall-ends-in-second-repeated-hour",
    ),
]


@pytest.mark.parametrize(("treatment_at", "zone", "end", "until"), DST_CASES)
def test_restriction_is_four_hours_of_real_time_across_dst(
    treatment_at: datetime, zone: ZoneInfo, end: datetime, until: str
) -> None:
    plan = make_plan(treatment_at, timezone=zone.key)
    all_clear = step(plan, "all_clear")
    assert all_clear.natural_at - plan.treatment_at == timedelta(hours=4)
    assert all_clear.natural_at == end
    assert plan.restriction_end == end


@pytest.mark.parametrize(("treatment_at", "zone", "end", "until"), DST_CASES)
def test_avoid_expires_at_the_real_restriction_end_across_dst(
    treatment_at: datetime, zone: ZoneInfo, end: datetime, until: str
) -> None:
    avoid = step(make_plan(treatment_at, timezone=zone.key), "avoid")
    assert avoid.expires_at == end
    assert avoid.expires_at - avoid.natural_at == timedelta(hours=4)


@pytest.mark.parametrize(("treatment_at", "zone", "end", "until"), DST_CASES)
def test_avoid_sms_shows_the_local_until_time_across_dst(
    treatment_at: datetime, zone: ZoneInfo, end: datetime, until: str
) -> None:
    body = step(make_plan(treatment_at, timezone=zone.key), "avoid").body
    assert until in body
    assert "for the next 4 hours " in body


@pytest.mark.parametrize(("treatment_at", "zone", "end", "until"), DST_CASES)
def test_all_clear_is_never_early_across_dst(
    treatment_at: datetime, zone: ZoneInfo, end: datetime, until: str
) -> None:
    all_clear = step(make_plan(treatment_at, timezone=zone.key), "all_clear")
    assert all_clear.not_before == end
    assert all_clear.due_at >= end


@pytest.mark.parametrize(("treatment_at", "zone", "end", "until"), DST_CASES)
def test_local_and_utc_treatment_times_plan_the_same(
    treatment_at: datetime, zone: ZoneInfo, end: datetime, until: str
) -> None:
    local = make_plan(treatment_at, timezone=zone.key)
    in_utc = make_plan(treatment_at.astimezone(UTC), timezone=zone.key)
    assert local == in_utc


def test_24h_restriction_across_spring_forward_is_24_hours_of_real_time() -> None:
    # 12:00 EST Sat 7 Mar + 24 h of real time = 13:00 EDT Sun 8 Mar.
    plan = make_plan(datetime(2026, 3, 7, 12, 0, tzinfo=NY), restriction="24h")
    all_clear = step(plan, "all_clear")
    assert all_clear.natural_at == utc(2026, 3, 8, 17, 0)
    assert "until 1:00 PM tomorrow avoid exercise" in step(plan, "avoid").body


# --- clinic restriction length ------------------------------------------------------------


@pytest.mark.parametrize(
    ("restriction", "length"),
    [("4h", 4 * H), ("6h", 6 * H), ("24h", 24 * H)],
)
def test_all_clear_falls_at_the_clinic_restriction(restriction: str, length: timedelta) -> None:
    all_clear = step(make_plan(T, restriction=restriction), "all_clear")
    assert all_clear.natural_at == T + length
    assert all_clear.not_before == T + length
    assert all_clear.due_at == T + length


@pytest.mark.parametrize(
    ("restriction", "length"),
    [("4h", 4 * H), ("6h", 6 * H), ("24h", 24 * H)],
)
def test_avoid_expires_at_the_clinic_restriction(restriction: str, length: timedelta) -> None:
    assert step(make_plan(T, restriction=restriction), "avoid").expires_at == T + length


AVOID_4H = (
    "for the next 4 hours (until 2:00 PM) please avoid exercise, facials, rubbing the treated "
    "area, lying flat and bending over"
)


@pytest.mark.parametrize(
    ("restriction", "words", "avoid"),
    [
        ("4h", "4 hours", AVOID_4H),
        (
            "6h",
            "6 hours",
            "until 2:00 PM avoid lying flat and bending over; until 4:00 PM avoid "
            "exercise, facials and rubbing the treated area",
        ),
        (
            "24h",
            "24 hours",
            "until 2:00 PM avoid lying flat and bending over; until 10:00 AM tomorrow "
            "avoid exercise, facials and rubbing the treated area",
        ),
    ],
)
def test_the_first_text_gives_each_window_its_own_end(
    restriction: str, words: str, avoid: str
) -> None:
    plan = make_plan(T, restriction=restriction)
    assert step(plan, "avoid").body.startswith(f"Harbor Skin Clinic: {avoid}. ")
    by_email = PatientProfile(
        name="Ann Lee", has_phone=False, has_email=True, preferred_channel=ChannelKind.EMAIL
    )
    email_plan = make_plan(T, restriction=restriction, patient=by_email)
    assert f"Your aftercare window ({words} after" in step(email_plan, "all_clear").body


@pytest.mark.parametrize(
    ("restriction", "steps"),
    [
        ("4h", ["avoid", "all_clear"]),
        ("6h", ["avoid", "window_end:posture", "all_clear"]),
        ("24h", ["avoid", "window_end:posture", "all_clear"]),
    ],
)
def test_a_message_goes_when_each_window_ends_and_one_where_they_coincide(
    restriction: str, steps: list[str]
) -> None:
    plan = make_plan(T, restriction=restriction)
    assert [s.step_id for s in plan.steps] == steps
    assert [g.id for g in plan.windows][-1].startswith("exertion")


def test_at_24_hours_lying_flat_and_bending_over_end_at_their_cited_4_hours() -> None:
    plan = make_plan(T, restriction="24h")
    posture = step(plan, "window_end:posture")
    assert (posture.natural_at, posture.due_at, posture.not_before) == (T + 4 * H,) * 3
    assert posture.expires_at == T + 16 * H
    assert posture.body == (
        "Harbor Skin Clinic: you can lie flat and bend over again. Please keep avoiding "
        "exercise, facials and rubbing the treated area until 10:00 AM tomorrow. Drooping "
        "eyelid, severe swelling or bruising? Call (212) 555-0143"
    )
    all_clear = step(plan, "all_clear")
    assert all_clear.due_at == T + 24 * H
    assert all_clear.body.startswith(
        "Harbor Skin Clinic: your aftercare window has ended: you can exercise, have facials "
        "and touch the treated area as usual. Exercise will not decrease your result."
    )


def test_a_window_that_ended_is_no_longer_listed_in_a_text_sent_after_it() -> None:
    # Logged 5 hours late at a 24 h clinic: lying flat is allowed again already.
    plan = make_plan(T, restriction="24h", now=T + 5 * H)
    assert step(plan, "avoid").body.startswith(
        "Harbor Skin Clinic: for the next 19 hours (until 10:00 AM tomorrow) please avoid "
        "exercise, facials and rubbing the treated area. "
    )


def test_a_patients_own_restriction_replaces_the_clinics() -> None:
    plan = plan_treatment(
        treatment_at=T,
        policy=botox(),
        clinic=clinic_settings().profile(),
        patient=PATIENT,
        now=T,
        restriction=6 * H,
    )
    assert plan.restriction == 6 * H
    assert plan.restriction_end == T + 6 * H
    assert "until 4:00 PM avoid exercise" in step(plan, "avoid").body


# --- late logging -------------------------------------------------------------------------


def test_logged_1h_late_avoid_is_due_now() -> None:
    avoid = step(make_plan(T, now=T + H), "avoid")
    assert avoid.due_at == T + H
    assert avoid.natural_at == T
    assert avoid.expires_at == T + 4 * H
    assert avoid.skip_reason is None


def test_logged_1h_late_avoid_says_3_hours_remain_until_the_end() -> None:
    body = step(make_plan(T, now=T + H), "avoid").body
    assert "for the next 3 hours (until 2:00 PM)" in body


def test_logged_1h_late_avoid_note_says_it_was_logged_late() -> None:
    note = step(make_plan(T, now=T + H), "avoid").note
    assert note is not None
    assert "logged 1 hour after it was due" in note


def test_logged_late_remaining_time_rounds_down() -> None:
    body = step(make_plan(T, now=T + H + 30 * S), "avoid").body
    assert "for the next 2 hours and 59 minutes (until 2:00 PM)" in body


def test_logged_3h50m_late_avoid_is_skipped_with_under_15_minutes_left() -> None:
    avoid = step(make_plan(T, now=T + 3 * H + 50 * M), "avoid")
    assert avoid.skipped
    assert avoid.skip_reason is not None
    assert "only 10 minutes left" in avoid.skip_reason
    assert "15 minutes" in avoid.skip_reason


def test_logged_with_exactly_15_minutes_left_avoid_is_sent() -> None:
    avoid = step(make_plan(T, now=T + 3 * H + 45 * M), "avoid")
    assert not avoid.skipped
    assert avoid.due_at == T + 3 * H + 45 * M
    assert "for the next 15 minutes (until 2:00 PM)" in avoid.body


def test_logged_with_just_under_15_minutes_left_avoid_is_skipped() -> None:
    avoid = step(make_plan(T, now=T + 3 * H + 45 * M + S), "avoid")
    assert avoid.skipped


def test_logged_1s_before_the_end_avoid_is_skipped() -> None:
    avoid = step(make_plan(T, now=T + 4 * H - S), "avoid")
    assert avoid.skip_reason is not None
    assert "only 0 minutes left" in avoid.skip_reason


@pytest.mark.parametrize("late", [4 * H, 5 * H], ids=["at-the-end", "5h-late"])
def test_logged_after_the_window_avoid_is_skipped_as_expired(late: timedelta) -> None:
    avoid = step(make_plan(T, now=T + late), "avoid")
    assert avoid.skip_reason is not None
    assert "expired" in avoid.skip_reason
    assert "2:00 PM" in avoid.skip_reason
    assert avoid.expires_at == T + 4 * H


def test_logged_5h_late_all_clear_is_due_now() -> None:
    all_clear = step(make_plan(T, now=T + 5 * H), "all_clear")
    assert not all_clear.skipped
    assert all_clear.natural_at == T + 4 * H
    assert all_clear.due_at == T + 5 * H
    # Usefulness runs from when it was due, not from when it was logged.
    assert all_clear.expires_at == T + 4 * H + 12 * H


def test_logged_5h_late_all_clear_note_says_it_was_logged_late() -> None:
    note = step(make_plan(T, now=T + 5 * H), "all_clear").note
    assert note is not None
    assert "logged 1 hour after it was due" in note


def test_logged_17h_late_all_clear_is_skipped_as_no_longer_useful() -> None:
    all_clear = step(make_plan(T, now=T + 17 * H), "all_clear")
    assert all_clear.skip_reason is not None
    assert "no longer useful" in all_clear.skip_reason
    assert "due at 2:00 PM" in all_clear.skip_reason
    assert "13 hours before it was logged" in all_clear.skip_reason
    assert "useful for 12 hours" in all_clear.skip_reason


def test_logged_17h_late_avoid_is_skipped_too() -> None:
    assert step(make_plan(T, now=T + 17 * H), "avoid").skipped


def test_all_clear_logged_1s_before_its_12h_usefulness_ends_is_sent() -> None:
    now = T + 16 * H - S
    all_clear = step(make_plan(T, now=now, quiet_hours=None), "all_clear")
    assert not all_clear.skipped
    assert all_clear.due_at == now


def test_all_clear_logged_as_its_12h_usefulness_ends_is_skipped() -> None:
    all_clear = step(make_plan(T, now=T + 16 * H, quiet_hours=None), "all_clear")
    assert all_clear.skip_reason is not None
    assert "no longer useful" in all_clear.skip_reason


def test_logged_at_the_end_all_clear_is_due_now_with_no_late_note() -> None:
    all_clear = step(make_plan(T, now=T + 4 * H), "all_clear")
    assert all_clear.due_at == T + 4 * H
    assert all_clear.note is None


# --- future treatments --------------------------------------------------------------------


def test_future_treatment_avoid_is_due_at_the_treatment() -> None:
    avoid = step(make_plan(T, now=T - timedelta(days=2)), "avoid")
    assert avoid.due_at == T
    assert avoid.expires_at == T + 4 * H
    assert avoid.note is None
    assert "for the next 4 hours (until 2:00 PM)" in avoid.body


def test_future_treatment_all_clear_is_due_at_its_restriction_end() -> None:
    all_clear = step(make_plan(T, now=T - timedelta(days=2)), "all_clear")
    assert all_clear.due_at == T + 4 * H
    assert all_clear.expires_at == T + 16 * H
    assert all_clear.note is None


def test_future_treatment_plan_is_the_same_whenever_it_is_made() -> None:
    earlier = make_plan(T, now=T - timedelta(days=30))
    later = make_plan(T, now=T - S)
    assert earlier == later


# --- never stale, never early -------------------------------------------------------------

INVARIANT_CASES = [
    pytest.param(treatment, now_offset, restriction, quiet, id=f"{label}-{name}-{restriction}")
    for label, treatment in [
        ("day", T),
        ("night", utc(2026, 11, 28, 3, 0)),  # 22:00 EST
        ("ny-spring", datetime(2026, 3, 8, 0, 30, tzinfo=NY)),
        ("ny-fall", datetime(2026, 10, 31, 23, 30, tzinfo=NY)),
    ]
    for name, now_offset in [
        ("future", -timedelta(days=3)),
        ("now", timedelta(0)),
        ("1h", H),
        ("3h50m", 3 * H + 50 * M),
        ("4h-1s", 4 * H - S),
        ("4h", 4 * H),
        ("5h", 5 * H),
        ("17h", 17 * H),
    ]
    for restriction in ["4h", "6h", "24h"]
    for quiet in ["21:00-08:00"]
] + [
    pytest.param(T, timedelta(0), "4h", None, id="no-quiet-hours"),
    pytest.param(utc(2026, 11, 28, 3, 0), 5 * H, "4h", None, id="no-quiet-hours-late"),
]


@pytest.mark.parametrize(("treatment", "now_offset", "restriction", "quiet"), INVARIANT_CASES)
def test_avoid_never_outlives_the_restriction(
    treatment: datetime, now_offset: timedelta, restriction: str, quiet: str | None
) -> None:
    plan = make_plan(
        treatment, now=treatment + now_offset, restriction=restriction, quiet_hours=quiet
    )
    avoid = step(plan, "avoid")
    assert avoid.expires_at == plan.restriction_end
    if not avoid.skipped:
        assert avoid.due_at < avoid.expires_at


@pytest.mark.parametrize(("treatment", "now_offset", "restriction", "quiet"), INVARIANT_CASES)
def test_all_clear_is_never_before_the_restriction_end(
    treatment: datetime, now_offset: timedelta, restriction: str, quiet: str | None
) -> None:
    plan = make_plan(
        treatment, now=treatment + now_offset, restriction=restriction, quiet_hours=quiet
    )
    all_clear = step(plan, "all_clear")
    assert all_clear.not_before == plan.restriction_end
    assert all_clear.due_at >= all_clear.not_before


@pytest.mark.parametrize(("treatment", "now_offset", "restriction", "quiet"), INVARIANT_CASES)
def test_no_step_is_due_before_it_is_planned(
    treatment: datetime, now_offset: timedelta, restriction: str, quiet: str | None
) -> None:
    now = treatment + now_offset
    plan = make_plan(treatment, now=now, restriction=restriction, quiet_hours=quiet)
    for s in plan.steps:
        assert s.due_at >= now
        assert s.due_at >= s.natural_at


@pytest.mark.parametrize(("treatment", "now_offset", "restriction", "quiet"), INVARIANT_CASES)
def test_a_step_that_is_sent_is_due_before_it_expires(
    treatment: datetime, now_offset: timedelta, restriction: str, quiet: str | None
) -> None:
    plan = make_plan(
        treatment, now=treatment + now_offset, restriction=restriction, quiet_hours=quiet
    )
    for s in plan.steps:
        if not s.skipped and s.expires_at is not None:
            assert s.due_at < s.expires_at


# --- quiet hours --------------------------------------------------------------------------

NIGHT = utc(2026, 11, 28, 3, 0)  # 22:00 EST Fri 27 Nov: the all-clear falls at 02:00 EST


def test_all_clear_at_2am_is_held_to_8am() -> None:
    all_clear = step(make_plan(NIGHT), "all_clear")
    assert all_clear.natural_at == utc(2026, 11, 28, 7, 0)  # 02:00 EST
    assert all_clear.due_at == utc(2026, 11, 28, 13, 0)  # 08:00 EST
    assert not all_clear.skipped


def test_all_clear_held_by_quiet_hours_says_why() -> None:
    note = step(make_plan(NIGHT), "all_clear").note
    assert note == "held from 2:00 AM to 8:00 AM by quiet hours 21:00-08:00"


def test_all_clear_held_by_quiet_hours_stays_useful_for_12_hours_after_it_goes() -> None:
    all_clear = step(make_plan(NIGHT), "all_clear")
    assert all_clear.expires_at == utc(2026, 11, 28, 13, 0) + 12 * H


def test_avoid_at_11pm_is_never_held() -> None:
    treatment = utc(2026, 11, 28, 4, 0)  # 23:00 EST
    avoid = step(make_plan(treatment), "avoid")
    assert avoid.due_at == treatment
    assert avoid.note is None
    assert not avoid.skipped


def test_avoid_logged_late_at_night_is_sent_now_not_held() -> None:
    now = utc(2026, 11, 28, 4, 0)  # 23:00 EST
    avoid = step(make_plan(now - H, now=now), "avoid")
    assert avoid.due_at == now
    assert avoid.note is not None
    assert "held" not in avoid.note


def test_no_quiet_hours_all_clear_is_not_held() -> None:
    all_clear = step(make_plan(NIGHT, quiet_hours=None), "all_clear")
    assert all_clear.due_at == all_clear.natural_at == utc(2026, 11, 28, 7, 0)
    assert all_clear.note is None


@pytest.mark.parametrize(
    ("natural_local", "expected_local"),
    [
        ((20, 59), (20, 59)),
        ((21, 0), (8, 0)),  # next morning
        ((23, 30), (8, 0)),  # next morning
        ((0, 0), (8, 0)),
        ((7, 59), (8, 0)),
        ((8, 0), (8, 0)),
        ((12, 0), (12, 0)),
    ],
)
def test_quiet_hours_boundaries(
    natural_local: tuple[int, int], expected_local: tuple[int, int]
) -> None:
    natural = datetime(2026, 11, 24, *natural_local, tzinfo=NY)
    all_clear = step(make_plan(natural - 4 * H), "all_clear")
    assert all_clear.natural_at == natural
    due_local = all_clear.due_at.astimezone(NY)
    assert (due_local.hour, due_local.minute) == expected_local
    assert timedelta(0) <= all_clear.due_at - natural < timedelta(hours=12)


def test_all_clear_logged_late_into_quiet_hours_is_held_and_says_both() -> None:
    treatment = utc(2026, 11, 27, 22, 0)  # 17:00 EST; all-clear 21:00 EST
    now = utc(2026, 11, 28, 4, 0)  # logged at 23:00 EST
    all_clear = step(make_plan(treatment, now=now), "all_clear")
    assert all_clear.due_at == utc(2026, 11, 28, 13, 0)  # 08:00 EST
    assert all_clear.note is not None
    assert "logged 2 hours after it was due" in all_clear.note
    assert "held from 11:00 PM to 8:00 AM" in all_clear.note


def test_quiet_hours_use_the_patient_zone_to_hold() -> None:
    # 16:00 in the New York clinic, 21:00 for the patient in London.
    patient = PatientProfile(name="Ann Lee", has_phone=True, has_email=False, timezone=LONDON)
    all_clear = step(make_plan(utc(2026, 11, 27, 17, 0), patient=patient), "all_clear")
    assert all_clear.natural_at == utc(2026, 11, 27, 21, 0)
    assert all_clear.due_at == utc(2026, 11, 28, 8, 0)  # 08:00 GMT
    assert all_clear.note == "held from 9:00 PM to 8:00 AM by quiet hours 21:00-08:00"


def test_quiet_hours_use_the_patient_zone_to_release() -> None:
    # 22:00 in the London clinic, 17:00 for the patient in New York.
    patient = PatientProfile(name="Ann Lee", has_phone=True, has_email=False, timezone=NY)
    plan = make_plan(utc(2026, 11, 27, 18, 0), patient=patient, timezone="Europe/London")
    all_clear = step(plan, "all_clear")
    assert all_clear.due_at == all_clear.natural_at == utc(2026, 11, 27, 22, 0)
    assert all_clear.note is None


def test_plan_zone_is_the_patient_zone_when_set() -> None:
    patient = PatientProfile(name="Ann Lee", has_phone=True, has_email=False, timezone=LONDON)
    assert make_plan(T, patient=patient).zone == LONDON
    assert make_plan(T).zone == NY


def test_texts_show_times_in_the_patient_zone() -> None:
    patient = PatientProfile(name="Ann Lee", has_phone=True, has_email=False, timezone=LONDON)
    body = step(make_plan(utc(2026, 11, 27, 17, 0), patient=patient), "avoid").body
    assert "(until 9:00 PM)" in body


@pytest.mark.parametrize(
    ("treatment_at", "zone", "natural", "held", "note"),
    [
        pytest.param(
            datetime(2026, 3, 7, 22, 0, tzinfo=NY),
            NY,
            utc(2026, 3, 8, 7, 0),  # 03:00 EDT (02:00 EST never happens)
            utc(2026, 3, 8, 12, 0),  # 08:00 EDT
            "held from 3:00 AM to 8:00 AM by quiet hours 21:00-08:00",
            id="ny-spring-forward",
        ),
        pytest.param(
            datetime(2026, 10, 31, 22, 0, tzinfo=NY),
            NY,
            utc(2026, 11, 1, 6, 0),  # 01:00 EST, the second 01:00
            utc(2026, 11, 1, 13, 0),  # 08:00 EST
            "held from 1:00 AM EST to 8:00 AM by quiet hours 21:00-08:00",
            id="ny-fall-back",
        ),
        pytest.param(
            datetime(2026, 3, 28, 22, 0, tzinfo=LONDON),
            LONDON,
            utc(2026, 3, 29, 2, 0),  # 03:00 BST
            utc(2026, 3, 29, 7, 0),  # 08:00 BST
            "held from 3:00 AM to 8:00 AM by quiet hours 21:00-08:00",
            id="london-spring-forward",
        ),
        pytest.param(
            datetime(2026, 10, 24, 22, 0, tzinfo=LONDON),
            LONDON,
            utc(2026, 10, 25, 1, 0),  # 01:00 GMT, the second 01:00
            utc(2026, 10, 25, 8, 0),  # 08:00 GMT
            "held from 1:00 AM GMT to 8:00 AM by quiet hours 21:00-08:00",
            id="london-fall-back",
        ),
    ],
)
def test_quiet_hours_end_on_a_dst_day(
    treatment_at: datetime, zone: ZoneInfo, natural: datetime, held: datetime, note: str
) -> None:
    all_clear = step(make_plan(treatment_at, timezone=zone.key), "all_clear")
    assert all_clear.natural_at == natural
    assert all_clear.due_at == held
    assert all_clear.note == note


# --- lock screen --------------------------------------------------------------------------


def _all_texts(plan: Plan) -> list[str]:
    return [text for s in plan.steps for text in (s.subject, s.body) if text is not None]


@pytest.mark.parametrize("channel", [ChannelKind.SMS, ChannelKind.EMAIL])
def test_default_texts_name_the_clinic(channel: ChannelKind) -> None:
    patient = PatientProfile(
        name="Ann Lee", has_phone=True, has_email=True, preferred_channel=channel
    )
    for s in make_plan(T, patient=patient).steps:
        assert "Harbor Skin Clinic" in s.body


@pytest.mark.parametrize("channel", [ChannelKind.SMS, ChannelKind.EMAIL])
def test_default_texts_leave_out_the_patient_name(channel: ChannelKind) -> None:
    patient = PatientProfile(
        name="Ann Lee", has_phone=True, has_email=True, preferred_channel=channel
    )
    for text in _all_texts(make_plan(T, patient=patient)):
        assert "Ann" not in text
        assert "Lee" not in text


@pytest.mark.parametrize("channel", [ChannelKind.SMS, ChannelKind.EMAIL])
def test_default_texts_leave_out_the_product_name(channel: ChannelKind) -> None:
    patient = PatientProfile(
        name="Ann Lee", has_phone=True, has_email=True, preferred_channel=channel
    )
    plan = make_plan(T, patient=patient)
    for text in _all_texts(plan):
        assert "botox" not in text.lower()
    if channel is ChannelKind.EMAIL:
        assert any("anti-wrinkle treatment" in text for text in _all_texts(plan))


def test_show_patient_name_greets_by_name_in_sms() -> None:
    plan = make_plan(T, show_patient_name=True)
    assert step(plan, "avoid").body.startswith("Harbor Skin Clinic: Hi Ann Lee, for the next")
    assert step(plan, "all_clear").body.startswith("Harbor Skin Clinic: Hi Ann Lee, your")


def test_show_patient_name_salutes_by_name_in_email() -> None:
    patient = PatientProfile(
        name="Ann Lee", has_phone=True, has_email=True, preferred_channel=ChannelKind.EMAIL
    )
    plan = make_plan(T, patient=patient, show_patient_name=True)
    for s in plan.steps:
        assert s.body.startswith("Dear Ann Lee,")


def test_default_email_salutation_is_generic() -> None:
    patient = PatientProfile(
        name="Ann Lee", has_phone=True, has_email=True, preferred_channel=ChannelKind.EMAIL
    )
    for s in make_plan(T, patient=patient).steps:
        assert s.body.startswith("Hello,")


def test_sms_texts_never_name_the_treatment_even_with_the_product_opt_in() -> None:
    # Texts are read on lock screens and cost by the segment: the email names it.
    plan = make_plan(T, show_product_name=True)
    for text in _all_texts(plan):
        assert "botox" not in text.lower()
        assert "anti-wrinkle" not in text


def test_show_product_name_names_botox_in_email() -> None:
    patient = PatientProfile(
        name="Ann Lee", has_phone=True, has_email=True, preferred_channel=ChannelKind.EMAIL
    )
    plan = make_plan(T, patient=patient, show_product_name=True)
    assert "after your Botox at 10:00 AM" in step(plan, "all_clear").body


# --- channel choice -----------------------------------------------------------------------


def _clinic(default: ChannelKind) -> ClinicProfile:
    return clinic_settings(default_channel=default).profile()


@pytest.mark.parametrize(
    ("preferred", "has_phone", "has_email", "default", "expected"),
    [
        # The preference, when reachable, beats the clinic default.
        (ChannelKind.SMS, True, True, ChannelKind.EMAIL, ChannelKind.SMS),
        (ChannelKind.EMAIL, True, True, ChannelKind.SMS, ChannelKind.EMAIL),
        # Unreachable preference: the clinic default.
        (ChannelKind.SMS, False, True, ChannelKind.EMAIL, ChannelKind.EMAIL),
        (ChannelKind.EMAIL, True, False, ChannelKind.SMS, ChannelKind.SMS),
        # No preference: the clinic default.
        (None, True, True, ChannelKind.SMS, ChannelKind.SMS),
        (None, True, True, ChannelKind.EMAIL, ChannelKind.EMAIL),
        # Neither reachable: whatever contact exists.
        (ChannelKind.SMS, False, True, ChannelKind.SMS, ChannelKind.EMAIL),
        (ChannelKind.EMAIL, True, False, ChannelKind.EMAIL, ChannelKind.SMS),
        (None, False, True, ChannelKind.SMS, ChannelKind.EMAIL),
        (None, True, False, ChannelKind.EMAIL, ChannelKind.SMS),
    ],
)
def test_choose_channel(
    preferred: ChannelKind | None,
    has_phone: bool,
    has_email: bool,
    default: ChannelKind,
    expected: ChannelKind,
) -> None:
    patient = PatientProfile(
        name="Ann Lee", has_phone=has_phone, has_email=has_email, preferred_channel=preferred
    )
    assert choose_channel(_clinic(default), patient) is expected


@pytest.mark.parametrize("preferred", [None, ChannelKind.SMS, ChannelKind.EMAIL])
def test_choose_channel_with_no_contact_raises(preferred: ChannelKind | None) -> None:
    patient = PatientProfile(
        name="Ann Lee", has_phone=False, has_email=False, preferred_channel=preferred
    )
    with pytest.raises(ValueError, match="neither a phone number nor an email address"):
        choose_channel(_clinic(ChannelKind.SMS), patient)


def test_plan_with_no_contact_raises() -> None:
    patient = PatientProfile(name="Ann Lee", has_phone=False, has_email=False)
    with pytest.raises(ValueError, match="neither"):
        make_plan(T, patient=patient)


def test_every_step_uses_the_chosen_channel() -> None:
    patient = PatientProfile(name="Ann Lee", has_phone=False, has_email=True)
    assert {s.channel for s in make_plan(T, patient=patient).steps} == {ChannelKind.EMAIL}


def test_sms_steps_have_no_subject() -> None:
    for s in make_plan(T).steps:
        assert s.channel is ChannelKind.SMS
        assert s.subject is None


def test_email_steps_render_subject_and_body() -> None:
    patient = PatientProfile(
        name="Ann Lee", has_phone=True, has_email=True, preferred_channel=ChannelKind.EMAIL
    )
    plan = make_plan(T, patient=patient)
    avoid, all_clear = step(plan, "avoid"), step(plan, "all_clear")
    assert avoid.subject == "Your aftercare until 2:00 PM"
    assert (
        "Until 2:00 PM (the next 4 hours), please avoid:\n- exercise;\n- facials;\n"
        "- rubbing the treated area;\n- lying flat;\n- bending over." in avoid.body
    )
    assert "We will write again at 2:00 PM." in avoid.body
    assert "Thank you for visiting Harbor Skin Clinic." in avoid.body
    assert avoid.body.endswith("Harbor Skin Clinic")
    assert all_clear.subject == "Your aftercare window has ended"
    assert (
        "Your aftercare window (4 hours after your anti-wrinkle treatment at 10:00 AM)\n"
        "has ended." in all_clear.body
    )
    assert "Questions? Call us on (212) 555-0143." in avoid.body
    for s in (avoid, all_clear):
        assert "{" not in s.body
        assert s.body == s.body.strip()


# --- 24-hour clock ------------------------------------------------------------------------


def test_24h_clock_renders_until_as_18_30() -> None:
    treatment = datetime(2026, 11, 27, 14, 30, tzinfo=NY)
    body = step(make_plan(treatment, time_format="24h"), "avoid").body
    assert "(until 18:30)" in body


def test_24h_clock_renders_email_subject() -> None:
    patient = PatientProfile(
        name="Ann Lee", has_phone=True, has_email=True, preferred_channel=ChannelKind.EMAIL
    )
    treatment = datetime(2026, 11, 27, 14, 30, tzinfo=NY)
    avoid = step(make_plan(treatment, patient=patient, time_format="24h"), "avoid")
    assert avoid.subject == "Your aftercare until 18:30"


def test_24h_clock_renders_skip_reasons() -> None:
    treatment = datetime(2026, 11, 27, 14, 30, tzinfo=NY)
    plan = make_plan(treatment, now=treatment + 5 * H, time_format="24h")
    reason = step(plan, "avoid").skip_reason
    assert reason is not None
    assert "18:30" in reason


def test_24h_clock_renders_quiet_hours_note() -> None:
    note = step(make_plan(NIGHT, time_format="24h"), "all_clear").note
    assert note == "held from 02:00 to 08:00 by quiet hours 21:00-08:00"


def test_quiet_hours_ending_in_the_repeated_hour_release_at_its_second_pass() -> None:
    # Quiet hours 21:00-01:30; on 2026-11-01 New York reads 01:00-02:00 twice. An all-clear
    # falling at 01:15 EST (the second pass) waits 15 minutes for 01:30 EST, not a day.
    plan = make_plan(utc(2026, 11, 1, 2, 15), quiet_hours="21:00-01:30")
    all_clear = step(plan, "all_clear")
    assert all_clear.natural_at == utc(2026, 11, 1, 6, 15)  # 01:15 EST
    assert all_clear.due_at == utc(2026, 11, 1, 6, 30)  # 01:30 EST


# --- promises and times in the patient's words -----------------------------------------------


def test_the_first_email_promises_the_next_message_when_it_will_really_go() -> None:
    # 6:30 PM at a 24 h clinic: lying flat ends at 10:30 PM, inside the quiet hours.
    by_email = PatientProfile(
        name="Ann Lee", has_phone=False, has_email=True, preferred_channel=ChannelKind.EMAIL
    )
    plan = make_plan(datetime(2026, 11, 27, 18, 30, tzinfo=NY), restriction="24h", patient=by_email)
    avoid, posture = step(plan, "avoid"), step(plan, "window_end:posture")
    assert posture.due_at == datetime(2026, 11, 28, 8, 0, tzinfo=NY)
    assert "We will write again at 8:00 AM tomorrow." in avoid.body
    assert "We will write again at 6:30 PM." in posture.body  # the all-clear, 24 h after
    assert "Until 6:30 PM (the next 10 hours and 30 minutes), please keep avoiding:" in (
        posture.body
    )


def test_a_treatment_after_midnight_thanks_the_patient_without_saying_today() -> None:
    by_email = PatientProfile(name="Ann Lee", has_phone=False, has_email=True)
    plan = make_plan(datetime(2026, 11, 28, 0, 30, tzinfo=NY), patient=by_email)
    assert "today" not in step(plan, "avoid").body


def test_a_repeated_hour_never_shows_a_raw_offset_in_a_patient_text() -> None:
    # Lord Howe's clocks go back from 2:00 to 1:30 AM on 5 April 2026: a restriction ending
    # in that half hour reads "old time" or "new time", not "+11" or "+1030".
    zone = ZoneInfo("Australia/Lord_Howe")
    treatment = datetime(2026, 4, 4, 22, 15, tzinfo=zone)  # +11; 4 h later it is +1030
    plan = make_plan(treatment, timezone=zone.key)
    body = step(plan, "avoid").body
    assert "(until 1:45 AM (new time) tomorrow)" in body
    assert "+1" not in body
