"""A clinic's settings checked against the policies it sends: restriction lengths the cited
answers support (or the clinic's own source), and a name that keeps texts in GSM-7."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reminders.bootstrap import build_app
from reminders.clinic_checks import check_clinic
from reminders.clock import FixedClock
from reminders.errors import ConfigError
from reminders.policies import load_policies
from reminders.settings import ClinicSettings
from tests.conftest import CONFIG_DIR, NOW, clinic_settings, make_settings
from tests.support import log

POLICIES = load_policies(CONFIG_DIR / "policies")
SOURCES = CONFIG_DIR / "sources"
PROTOCOL = (
    "Harbor Skin Clinic protocol: after anti-wrinkle injections, no strenuous exercise "
    "for 48 hours."
)


def problems(settings: ClinicSettings, sources: Path = SOURCES) -> list[str]:
    return [str(p) for p in check_clinic(settings, POLICIES, sources)[1]]


def test_the_shipped_example_clinic_passes() -> None:
    stored, found = check_clinic(clinic_settings(), POLICIES, SOURCES)
    assert found == []
    assert stored.restriction_source is None


@pytest.mark.parametrize("restriction", ["4h", "6h", "24h", "1d"])
def test_lengths_the_answers_support_pass(restriction: str) -> None:
    assert problems(clinic_settings(restriction=restriction)) == []


@pytest.mark.parametrize("restriction", ["30m", "2h", "25h", "2d", "7d"])
def test_lengths_outside_the_answers_need_the_clinics_own_source(restriction: str) -> None:
    [problem] = problems(clinic_settings(restriction=restriction))
    assert problem.startswith("clinic.restriction: ")
    assert "outside what the answers cited for botox support (4h to 1d)" in problem


def test_a_typographic_apostrophe_in_the_name_is_refused_with_the_character_to_use() -> None:
    [problem] = problems(clinic_settings(name="Dr O\u2019Brien's Skin Clinic"))
    assert problem == (
        "clinic.name: U+2019 '\u2019' (use \"'\") forces UCS-2: every text would cost twice or more"
    )


def own_source(tmp_path: Path, text: str = PROTOCOL) -> Path:
    sources = tmp_path / "sources"
    shutil.copytree(SOURCES, sources)
    (sources / "harbor-protocol.txt").write_text(text, encoding="utf-8")
    return sources


def test_a_clinics_own_source_allows_its_length_and_is_versioned(tmp_path: Path) -> None:
    settings = clinic_settings(
        restriction="2d",
        restriction_source="harbor-protocol.txt",
        restriction_quote="no strenuous exercise for 48 hours",
    )
    stored, found = check_clinic(settings, POLICIES, own_source(tmp_path))
    assert found == []
    assert stored.restriction_source is not None
    assert stored.restriction_source.startswith("harbor-protocol.txt@")
    assert len(stored.restriction_source.rpartition("@")[2]) == 12


@pytest.mark.parametrize(
    ("source", "quote", "expected"),
    [
        ("harbor-protocol.txt", None, "clinic.restriction_source: a clinic's own source needs"),
        ("missing.txt", "48 hours", "clinic.restriction_source: no file 'missing.txt'"),
        ("../clinic.toml", "48 hours", "clinic.restriction_source: no file '../clinic.toml'"),
        ("harbor-protocol.txt", "72 hours", "clinic.restriction_quote: not found word for word"),
    ],
    ids=["no-quote", "no-file", "outside-sources", "quote-not-in-file"],
)
def test_a_source_that_does_not_check_out_is_refused(
    tmp_path: Path, source: str, quote: str | None, expected: str
) -> None:
    settings = clinic_settings(restriction="2d", restriction_source=source, restriction_quote=quote)
    found = problems(settings, own_source(tmp_path))
    assert any(p.startswith(expected) for p in found), found
    assert any(p.startswith("clinic.restriction: ") for p in found)


def test_the_service_refuses_to_start_with_clinic_settings_that_break_texts(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = make_settings(tmp_path, sqlite_url, name="Dr O\u2019Brien's Skin Clinic")
    with pytest.raises(ConfigError) as raised:
        build_app(settings, clock=FixedClock(NOW))
    assert "clinic.name: U+2019" in str(raised.value)


def test_treatments_at_a_sourced_length_record_the_source(
    tmp_path: Path, database_url: str
) -> None:
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    (config / "sources" / "harbor-protocol.txt").write_text(PROTOCOL, encoding="utf-8")
    settings = make_settings(
        tmp_path,
        database_url,
        restriction="2d",
        restriction_source="harbor-protocol.txt",
        restriction_quote="no strenuous exercise for 48 hours",
    ).model_copy(update={"config_dir": config})
    app = build_app(settings, clock=FixedClock(NOW))
    try:
        treatment = app.service.treatment(app.clinic.id, log(app).id)
        assert treatment.restriction == "2d"
        assert treatment.restriction_source is not None
        assert treatment.restriction_source.startswith("harbor-protocol.txt@")
        avoid = next(m for m in treatment.messages if m.step_id == "avoid")
        assert "avoid exercise, facials and rubbing the treated area" in avoid.body
        assert "until 2:00 PM on Sun 29 Nov" in avoid.body
    finally:
        app.close()
