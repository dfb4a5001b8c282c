"""Whether a database's schema is at the newest migration, without importing Alembic.

Every command opens the database, and importing Alembic (with its DDL machinery for
every dialect) costs more than the rest of a command. Almost always the schema is
already current, so that question is answered here with plain SQL and the migration
files read as text; `reminders.db.migrate` (Alembic) is needed only to change a schema.

The newest revision is read from the files, not kept as a constant: a migration added
later is seen without anyone remembering to update a second place. A test holds this
reading to Alembic's own answer.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from sqlalchemy import Engine, inspect, text

VERSIONS = Path(__file__).parent / "migrations" / "versions"
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps
_RECORDED = text("SELECT version_num FROM alembic_version")

# A migration's module-level `revision = "0008"` and `down_revision = "0007"` (or None, or
# a tuple of several when it merges branches), with or without a type annotation.
_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)
_QUOTED = re.compile(r"""["']([^"']+)["']""")


def heads_in(folder: Path) -> set[str]:
    """The revisions in `folder` that no other revision there follows."""
    revisions: set[str] = set()
    followed: set[str] = set()
    for path in folder.glob("*.py"):
        found = {
            name: _QUOTED.findall(value) for name, value in _ASSIGNMENT.findall(path.read_text())
        }
        revisions.update(found.get("revision", []))
        followed.update(found.get("down_revision", []))
    return revisions - followed


@functools.cache
def head_revision() -> str:
    """The newest migration's revision id."""
    heads = heads_in(VERSIONS)
    if len(heads) == 1:
        return heads.pop()
    # Branches not yet merged, or a file this reading does not understand: Alembic
    # decides (and says what is wrong).
    from reminders.db import migrate

    head = migrate.head_revision()
    if head is None:
        raise RuntimeError(f"no migrations in {VERSIONS}")
    return head


def current_revisions(engine: Engine) -> tuple[str, ...]:
    """The revisions the database records itself at: none for an empty schema."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return ()
        return tuple(sorted(row[0] for row in connection.execute(_RECORDED)))


def is_current(engine: Engine) -> bool:
    return current_revisions(engine) == (head_revision(),)


def describe_current(engine: Engine) -> str:
    """The database's revision, for a message."""
    return ", ".join(current_revisions(engine)) or "an empty schema"
