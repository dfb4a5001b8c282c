"""The segment budget: every text a policy can send, at its longest, for each restriction
length; and a clinic's own name, phone and length checked the same way."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from reminders.domain import ChannelKind, ClinicProfile, PatientProfile
from reminders.localtime import format_clock
from reminders.planning import plan_treatment
from reminders.policies import Policy, Problem, load_policies, load_policy_file
from reminders.sms_budget import (
    LONGEST_CLINIC_NAME,
    LONGEST_PHONE,
    clinic_sms_problems,
    sms_problems,
    sms_reports,
)
from reminders.sms_encoding import SEGMENT_BUDGET, sms_cost

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "config" / "policies"
SOURCES = REPO / "config" / "sources"
SHIPPED = (POLICIES / "botox.toml").read_text(encoding="utf-8")
FOUR_HOURS = timedelta(hours=4)
ONE_DAY = timedelta(days=1)
CORRECTIONS = ["correction", "correction_looser", "correction_ended", "withdrawal"]
# The shipped example clinic (config/clinic.toml), its phone as texts show it.
HARBOR = "Harbor Skin Clinic"
HARBOR_PHONE = "(212) 555-0143"
APOSTROPHE = "U+2019 '\u2019' (use \"'\") forces UCS-2"


def shipped() -> Policy:
    policy = load_policies(POLICIES).get("botox")
    assert policy is not None
    return policy


def copy_of_shipped(tmp_path: Path, old: str, new: str, *, occurs: int = 1) -> Policy:
    """The shipped policy with the first `old` (which occurs `occurs` times) replaced,
    loaded from `tmp_path`."""
    assert SHIPPED.count(old) == occurs, f"{old!r} occurs {SHIPPED.count(old)} times"
    text = SHIPPED.replace(old, new, 1)
    text = text.replace('source = "../sources/', f'source = "{SOURCES.resolve()}/')
    path = tmp_path / "botox.toml"
    path.write_text(text, encoding="utf-8")
    policy, problems = load_policy_file(path)
    assert problems == []
    assert policy is not None
    return policy


# --- sms_reports ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("restriction", "messages"),
    [
        # Both windows end at 4h: one message at the treatment, one when they end.
        (FOUR_HOURS, ["avoid", "all_clear", *CORRECTIONS]),
        # Lying flat and bending over end first, then the restriction.
        (timedelta(hours=6), ["avoid", "window_end:posture", "all_clear", *CORRECTIONS]),
        (ONE_DAY, ["avoid", "window_end:posture", "all_clear", *CORRECTIONS]),
        # A restriction shorter than the posture window (a clinic's own source).
        (timedelta(minutes=30), ["avoid", "window_end:exertion", "all_clear", *CORRECTIONS]),
    ],
)
def test_reports_cover_each_message_a_restriction_length_makes(
    restriction: timedelta, messages: list[str]
) -> None:
    reports = sms_reports(shipped(), restrictions=(restriction,))
    assert [report.step_id for report in reports] == messages
    assert {report.restriction for report in reports} == {restriction}


def test_reports_default_to_the_shortest_and_longest_length_the_policy_supports() -> None:
    reports = sms_reports(shipped())
    assert [(report.step_id, report.restriction) for report in reports] == [
        *((step_id, FOUR_HOURS) for step_id in ["avoid", "all_clear", *CORRECTIONS]),
        *(
            (step_id, ONE_DAY)
            for step_id in ["avoid", "window_end:posture", "all_clear", *CORRECTIONS]
        ),
    ]


def test_reports_of_several_lengths_come_in_the_order_given() -> None:
    reports = sms_reports(shipped(), restrictions=(ONE_DAY, FOUR_HOURS))
    assert [report.restriction for report in reports] == [ONE_DAY] * 7 + [FOUR_HOURS] * 6


def test_a_report_costs_the_text_as_written_and_at_its_longest() -> None:
    policy = shipped()
    reports = sms_reports(policy)
    assert reports
    for report in reports:
        step = policy.step(report.step_id)
        assert step is not None
        assert report.template == sms_cost(step.sms)
        # Every variable filled in: the longest is never shorter than the template's text.
        assert report.longest.units > sms_cost(re.sub(r"\{\w+\}", "", step.sms)).units


@pytest.mark.parametrize("restriction", [FOUR_HOURS, timedelta(hours=6), timedelta(hours=12)])
def test_each_character_of_the_clinic_name_costs_one_unit_in_every_text(
    restriction: timedelta,
) -> None:
    policy = shipped()
    short = sms_reports(policy, restrictions=(restriction,), clinic_name="C" * 10)
    long = sms_reports(policy, restrictions=(restriction,), clinic_name="C" * 60)
    assert short
    assert [r.step_id for r in short] == [r.step_id for r in long]
    assert [b.longest.units - a.longest.units for a, b in zip(short, long, strict=True)] == [
        50
    ] * len(short)


def test_reports_use_the_longest_clinic_name_and_phone_by_default() -> None:
    policy = shipped()
    assert (len(LONGEST_CLINIC_NAME), len(LONGEST_PHONE)) == (60, 16)
    assert sms_reports(policy) == sms_reports(
        policy,
        restrictions=(FOUR_HOURS, ONE_DAY),
        clinic_name=LONGEST_CLINIC_NAME,
        clinic_phone=LONGEST_PHONE,
    )


@pytest.mark.parametrize(
    "restrictions",
    [
        None,  # the shortest and longest the policy supports: 4h and 1d
        (FOUR_HOURS,),
        (timedelta(hours=4, minutes=1),),
        (timedelta(hours=6),),
        (timedelta(hours=12),),
        (timedelta(hours=23, minutes=59),),
        (ONE_DAY,),
    ],
)
def test_every_shipped_text_at_its_longest_is_gsm7_within_two_segments(
    restrictions: tuple[timedelta, ...] | None,
) -> None:
    reports = sms_reports(shipped(), restrictions=restrictions)
    assert len(reports) >= 6
    for report in reports:
        assert report.template.encoding == "GSM-7", report.step_id
        assert report.longest.encoding == "GSM-7", report.step_id
        assert report.longest.segments <= SEGMENT_BUDGET == 2, (report.step_id, report.longest)


# --- sms_problems --------------------------------------------------------------------------


def test_shipped_policy_has_no_sms_problems() -> None:
    policies = list(load_policies(POLICIES).policies.values())
    assert policies
    for policy in policies:
        assert sms_problems(policy) == []


def test_a_curly_quote_in_a_text_is_reported(tmp_path: Path) -> None:
    base = {(r.step_id, r.restriction): r.longest.units for r in sms_reports(shipped())}
    policy = copy_of_shipped(tmp_path, "No exercise; call", "Don\u2019t exercise; call")
    path = str(policy.path)
    # In UCS-2 the same text no longer fits two segments (70 and 67 a segment, not 160 and 153).
    assert sms_problems(policy) == [
        Problem(path, "steps[0].sms", APOSTROPHE),
        Problem(
            path,
            "steps[0].sms",
            f"avoid at 4h: 5 segments at its longest (UCS-2, "
            f"{base['avoid', FOUR_HOURS] + 3} units, 5 segment(s)); the budget is 2",
        ),
        Problem(
            path,
            "steps[0].sms",
            f"avoid at 1d: 5 segments at its longest (UCS-2, "
            f"{base['avoid', ONE_DAY] + 3} units, 5 segment(s)); the budget is 2",
        ),
    ]


def test_a_text_over_budget_at_its_longest_is_reported(tmp_path: Path) -> None:
    base = {(r.step_id, r.restriction): r.longest.units for r in sms_reports(shipped())}
    # The first of the two corrections giving times is the (tightened) correction.
    old = 'times: {avoid_windows}. Questions? Call {clinic_phone}"'
    policy = copy_of_shipped(tmp_path, old, old[:-1] + " x" * 40 + '"', occurs=2)
    path = str(policy.path)
    assert sms_problems(policy) == [
        Problem(
            path,
            "steps[3].sms",
            f"correction at {length}: 3 segments at its longest (GSM-7, "
            f"{base['correction', restriction] + 80} units, 3 segment(s)); the budget is 2",
        )
        for length, restriction in (("4h", FOUR_HOURS), ("1d", ONE_DAY))
    ]


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        (
            'avoid = ["lying flat", "bending over"]',
            'avoid = ["lying flat", "bending over", "your partner\u2019s sauna"]',
            "windows[1].avoid",
            APOSTROPHE,
        ),
        (
            'avoid = ["exercise", "facials", "rubbing the treated area"]',
            'avoid = ["exercise", "fa\u00e7ials", "rubbing the treated area"]',
            "windows[0].avoid",
            "U+00E7 '\u00e7' forces UCS-2",
        ),
        (
            'avoid = ["lying flat", "bending over"]',
            'avoid = ["lying flat", "bending\u00a0over"]',
            "windows[1].avoid",
            "U+00A0 '\\xa0' (use ' ') forces UCS-2",
        ),
        (
            'resume = ["lie flat", "bend over"]',
            'resume = ["lie flat", "bend over \u2013 gently"]',
            "windows[1].resume",
            "U+2013 '\u2013' (use '-') forces UCS-2",
        ),
    ],
)
def test_a_character_forcing_ucs2_in_a_windows_words_is_reported(
    tmp_path: Path, old: str, new: str, key: str, message: str
) -> None:
    policy = copy_of_shipped(tmp_path, old, new)
    problems = sms_problems(policy)
    assert problems
    assert problems[0] == Problem(str(policy.path), key, message)
    # Said once for the words, then for each text they take over the budget.
    assert [p.key for p in problems if not p.key.startswith("steps[")] == [key]
    assert all("segments at its longest (UCS-2" in p.message for p in problems[1:])


def test_a_curly_quote_in_the_words_to_avoid_takes_every_text_giving_them_over_budget(
    tmp_path: Path,
) -> None:
    policy = copy_of_shipped(
        tmp_path,
        'avoid = ["lying flat", "bending over"]',
        'avoid = ["lying flat", "bending over", "your partner\u2019s sauna"]',
    )
    problems = sms_problems(policy)
    # The texts that list what to avoid: the first, and the two corrections that give times.
    # (The window-end text at 1d lists only what is still avoided: the exertion window.)
    assert [(p.key, p.message.split(":")[0]) for p in problems] == [
        ("windows[1].avoid", "U+2019 '\u2019' (use \"'\") forces UCS-2"),
        ("steps[0].sms", "avoid at 4h"),
        ("steps[3].sms", "correction at 4h"),
        ("steps[4].sms", "correction_looser at 4h"),
        ("steps[0].sms", "avoid at 1d"),
        ("steps[3].sms", "correction at 1d"),
        ("steps[4].sms", "correction_looser at 1d"),
    ]


# --- clinic_sms_problems -------------------------------------------------------------------

UCS2 = "forces UCS-2: every text would cost twice or more"


@pytest.mark.parametrize(
    ("name", "phone", "restriction", "expected"),
    [
        (HARBOR, HARBOR_PHONE, FOUR_HOURS, []),
        (HARBOR, HARBOR_PHONE, ONE_DAY, []),
        (HARBOR, HARBOR_PHONE, timedelta(hours=6), []),
        ("C" * 60, HARBOR_PHONE, FOUR_HOURS, []),
        ("C" * 60, HARBOR_PHONE, ONE_DAY, []),
        ("C" * 60, LONGEST_PHONE, ONE_DAY, []),
        (
            "Dr O\u2019Brien's Skin Clinic",
            HARBOR_PHONE,
            FOUR_HOURS,
            [("name", f"U+2019 '\u2019' (use \"'\") {UCS2}")],
        ),
        (
            "Dr O\u2019Brien's Skin Clinic",
            HARBOR_PHONE,
            ONE_DAY,
            [("name", f"U+2019 '\u2019' (use \"'\") {UCS2}")],
        ),
        (
            "Clinique Fran\u00e7oise \u2013 Paris",
            HARBOR_PHONE,
            FOUR_HOURS,
            [("name", f"U+00E7 '\u00e7' {UCS2}"), ("name", f"U+2013 '\u2013' (use '-') {UCS2}")],
        ),
        (
            HARBOR,
            "(212)\u00a0555-0143",
            FOUR_HOURS,
            [("phone", f"U+00A0 '\\xa0' (use ' ') {UCS2}")],
        ),
        (
            "Dr O\u2019Brien's Skin Clinic",
            "(212)\u00a0555-0143",
            ONE_DAY,
            [
                ("name", f"U+2019 '\u2019' (use \"'\") {UCS2}"),
                ("phone", f"U+00A0 '\\xa0' (use ' ') {UCS2}"),
            ],
        ),
    ],
)
def test_clinic_sms_problems(
    name: str, phone: str, restriction: timedelta, expected: list[tuple[str, str]]
) -> None:
    assert (
        clinic_sms_problems(shipped(), name=name, phone=phone, restriction=restriction) == expected
    )


def test_shipped_example_clinic_has_no_sms_problems() -> None:
    assert HARBOR in (REPO / "config" / "clinic.toml").read_text(encoding="utf-8")
    assert (
        clinic_sms_problems(shipped(), name=HARBOR, phone=HARBOR_PHONE, restriction=FOUR_HOURS)
        == []
    )


def _fits(name: str, restriction: timedelta) -> list[tuple[str, str]]:
    return clinic_sms_problems(shipped(), name=name, phone=HARBOR_PHONE, restriction=restriction)


def test_a_name_too_long_at_1d_is_named_with_how_many_characters_fit() -> None:
    name = "Harbor Skin and Laser Clinic of Lower Manhattan, Brooklyn and Jersey City"
    assert len(name) == 73
    base = {r.step_id: r.longest.units for r in sms_reports(shipped(), restrictions=(ONE_DAY,))}
    # The longest text at 1d is the first, with the budget's 60-character name: 60 + 7 fit.
    assert max(base, key=lambda step_id: base[step_id]) == "avoid"
    # Its text with this name and phone, and with 67 characters: exactly two segments.
    units = base["avoid"] - len(LONGEST_CLINIC_NAME) - len(LONGEST_PHONE) + 73 + len(HARBOR_PHONE)
    assert units - 73 + 67 == SEGMENT_BUDGET * 153
    assert _fits(name, ONE_DAY) == [
        (
            "name",
            f"with this name (73 characters) and a 1d restriction, the avoid text takes 3 "
            f"segments at its longest (GSM-7, {units} units, 3 segment(s)); the budget is 2: "
            "shorten the name to 67 characters or fewer",
        )
    ]
    # As many characters as it says fit; one more does not.
    assert _fits(name[:67], ONE_DAY) == []
    [(setting, message)] = _fits(name[:68], ONE_DAY)
    assert setting == "name"
    assert message.endswith("shorten the name to 67 characters or fewer")


@pytest.mark.parametrize(
    ("restriction", "fit"),
    [(FOUR_HOURS, 66), (timedelta(hours=6), 67), (ONE_DAY, 67)],
)
def test_the_characters_a_name_may_have_depend_on_the_restriction(
    restriction: timedelta, fit: int
) -> None:
    assert _fits("C" * fit, restriction) == []
    [(setting, message)] = _fits("C" * (fit + 1), restriction)
    assert setting == "name"
    assert message.endswith(f"shorten the name to {fit} characters or fewer")
    # The name's own length is said, and the restriction it was checked at.
    assert f"with this name ({fit + 1} characters) and a " in message


# --- the budget's longest case is the longest text sent --------------------------------------


def test_a_clinic_that_passes_the_check_sends_no_text_over_budget_at_a_repeated_hour() -> None:
    """Where the clocks go back, a time in the repeated hour reads with which of the two it
    is, in words where the zone's abbreviation is a number (Chile: -03, -04): the budget
    counts the longest of these. A clinic whose settings pass `clinic_sms_problems` must
    still send every text within the budget."""
    zone = ZoneInfo("America/Santiago")
    name, phone = "C" * 60, "(2) 2123 4567"  # the longest name clinic settings accept
    assert clinic_sms_problems(shipped(), name=name, phone=phone, restriction=ONE_DAY) == []
    # Chile's clocks went back at midnight on 4-5 April 2026: 23:00 to 23:59 came twice.
    # The treatment is a day before the first 23:30, so the restriction ends then.
    restriction_end = datetime(2026, 4, 5, 2, 30, tzinfo=UTC)
    assert format_clock(restriction_end, zone) == "11:30 PM (old time)"
    clinic = ClinicProfile(
        name=name,
        phone_display=phone,
        timezone=zone,
        restriction=ONE_DAY,
        quiet_hours=None,
        default_channel=ChannelKind.SMS,
    )
    patient = PatientProfile(name="Ana", has_phone=True, has_email=False)
    treatment_at = restriction_end - ONE_DAY
    plan = plan_treatment(
        treatment_at=treatment_at,
        policy=shipped(),
        clinic=clinic,
        patient=patient,
        now=treatment_at,
    )
    costs = {step.step_id: sms_cost(step.body) for step in plan.steps}
    assert list(costs) == ["avoid", "window_end:posture", "all_clear"]
    assert {step_id: cost.segments for step_id, cost in costs.items()} == {
        "avoid": 2,
        "window_end:posture": 2,
        "all_clear": 2,
    }, {step_id: cost.describe() for step_id, cost in costs.items()}
