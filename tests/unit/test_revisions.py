"""The newest migration, read from the files without Alembic, and held to Alembic's answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reminders.db import migrate, revisions


def _migration(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(f'"""{name}"""\n\nimport sqlalchemy as sa\n\n{body}\n')


@pytest.fixture
def fresh_head() -> Iterator[None]:
    revisions.head_revision.cache_clear()
    yield
    revisions.head_revision.cache_clear()


def test_the_head_read_from_the_files_is_alembics_head(fresh_head: None) -> None:
    assert revisions.heads_in(revisions.VERSIONS) == {migrate.head_revision()}
    assert revisions.head_revision() == migrate.head_revision()


def test_a_chain_has_its_last_revision_as_head(tmp_path: Path) -> None:
    _migration(tmp_path, "0001_a", 'revision: str = "0001"\ndown_revision: str | None = None')
    _migration(tmp_path, "0002_b", 'revision: str = "0002"\ndown_revision: str | None = "0001"')
    _migration(tmp_path, "0003_c", "revision = '0003'\ndown_revision = '0002'")
    assert revisions.heads_in(tmp_path) == {"0003"}


def test_two_branches_are_two_heads(tmp_path: Path) -> None:
    _migration(tmp_path, "a", 'revision = "a"\ndown_revision = None')
    _migration(tmp_path, "b", 'revision = "b"\ndown_revision = "a"')
    _migration(tmp_path, "c", 'revision = "c"\ndown_revision = "a"')
    assert revisions.heads_in(tmp_path) == {"b", "c"}


def test_a_merge_of_two_branches_is_the_one_head(tmp_path: Path) -> None:
    _migration(tmp_path, "a", 'revision = "a"\ndown_revision = None')
    _migration(tmp_path, "b", 'revision = "b"\ndown_revision = "a"')
    _migration(tmp_path, "c", 'revision = "c"\ndown_revision = "a"')
    _migration(tmp_path, "d", 'revision = "d"\ndown_revision = ("b", "c")')
    assert revisions.heads_in(tmp_path) == {"d"}


def test_text_inside_a_migration_is_not_read_as_its_revision(tmp_path: Path) -> None:
    _migration(
        tmp_path,
        "a",
        'revision = "a"\ndown_revision = None\n\n\ndef upgrade() -> None:\n'
        '    revision = "not-a-revision"\n',
    )
    assert revisions.heads_in(tmp_path) == {"a"}


def test_branches_the_files_cannot_settle_are_left_to_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_head: None
) -> None:
    _migration(tmp_path, "a", 'revision = "a"\ndown_revision = None')
    _migration(tmp_path, "b", 'revision = "b"\ndown_revision = None')
    monkeypatch.setattr(revisions, "VERSIONS", tmp_path)
    asked: list[bool] = []
    monkeypatch.setattr(migrate, "head_revision", lambda: asked.append(True) or "from-alembic")
    assert revisions.head_revision() == "from-alembic"
    assert asked == [True]
