"""`reminders retention`: a dry run by default, --apply to remove, a days setting required."""

from __future__ import annotations

import pytest

from tests.cli.support import refused, run


def test_without_days_or_a_setting_it_says_which_to_give(env: dict[str, str]) -> None:
    assert refused("retention") == ("error: days: give --days, or set retention.contact_days")


def test_a_dry_run_by_default_then_apply(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMINDERS_RETENTION__CONTACT_DAYS", "30")
    run("log", "Ann Lee", "--phone", "2125550198", "--sms-consent", "--treatment", "botox")

    dry = run("retention")
    applied = run("retention", "--apply")

    # Just logged, with messages still to go: nothing is due for removal yet.
    assert dry.startswith("Would remove the phone and email of 0 patient(s) with nothing since")
    assert "Run again with --apply" in dry
    assert applied.startswith("Removed the phone and email of 0 patient(s)")
