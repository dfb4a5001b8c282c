"""Patient data on disk is the service's alone, and example passwords are refused."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from reminders.bootstrap import build_app, default_channels
from reminders.clock import FixedClock
from reminders.errors import ConfigError
from tests.conftest import NOW, make_settings
from tests.support import log


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_folder_database_and_outbox_are_the_owners_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)  # as an older version left it
    settings = make_settings(tmp_path, f"sqlite:///{data / 'reminders.db'}")
    app = build_app(settings, clock=FixedClock(NOW))
    try:
        log(app)
        app.dispatcher(default_channels(app.settings)).dispatch_due()
    finally:
        app.close()
    assert mode(data) == 0o700
    database = data / "reminders.db"
    outbox = settings.data_dir / "outbox.log"
    assert database.exists()
    assert outbox.read_text(encoding="utf-8").count("+12125550199") == 1
    assert (mode(database), mode(outbox)) == (0o600, 0o600)
    journals = [p for p in data.iterdir() if p.name.startswith("reminders.db-")]
    assert all(mode(p) == 0o600 for p in journals), journals


@pytest.mark.parametrize("password", ["change-me", "CHANGEME", "password"])
def test_a_database_password_from_an_example_is_refused(tmp_path: Path, password: str) -> None:
    url = f"postgresql+psycopg://reminders:{password}@127.0.0.1:5432/reminders"
    with pytest.raises(ConfigError) as raised:
        build_app(make_settings(tmp_path, url), clock=FixedClock(NOW))
    assert "placeholder" in str(raised.value)
