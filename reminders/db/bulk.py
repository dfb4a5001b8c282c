"""Core inserts and updates for rows written many at a time and never read back as objects.

The ORM's unit of work costs more than the rows themselves when thousands of
rows are only inserted: these go straight to the table, one executemany each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, insert, select, update

# Up to this many rows (one treatment's), RETURNING is the cheaper way: a row per
# statement on SQLite, one short statement on PostgreSQL.
FEW = 4


def insert_with_ids(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Insert rows under new ids; the ids, in the order of `rows`.

    `INSERT ... RETURNING id` in parameter order is the obvious way, but
    SQLAlchemy can only keep that order on SQLite by inserting one row per
    statement, and on PostgreSQL it sends one statement per 1,000 rows whose
    text psycopg then re-parses each time (too long for its cache): both cost
    more than the inserts. The ids are taken first instead, and the rows go
    in one plain executemany.
    """
    if not rows:
        return []
    if len(rows) <= FEW:
        return _returning_ids(connection, table, rows)
    ids = _new_ids(connection, table, len(rows))
    if ids is None:
        return _returning_ids(connection, table, rows)
    connection.execute(
        insert(table), [{**row, "id": row_id} for row, row_id in zip(rows, ids, strict=True)]
    )
    return ids


def _returning_ids(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(connection.execute(statement, rows).scalars())


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        connection.execute(insert(table), rows)


def update_by_id(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Set each row's other columns where the id is its `id`; every row names the same columns."""
    if not rows:
        return
    # The parameters' other keys become the SET clause.
    statement = update(table).where(table.c.id == bindparam("row_id"))
    connection.execute(statement, [{**_without_id(row), "row_id": row["id"]} for row in rows])


def _new_ids(connection: Connection, table: Table, count: int) -> list[int] | None:
    """`count` ids no other transaction will use for `table`, ascending; None: not here."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        sequence = func.pg_get_serial_sequence(table.fullname, "id")
        numbers = func.generate_series(1, count).table_valued("n")
        ids = connection.execute(select(func.nextval(sequence)).select_from(numbers)).scalars()
        return sorted(ids)
    if dialect == "sqlite":
        # SQLite gives a new row the highest id plus one (the tables are not
        # AUTOINCREMENT), and our write transactions hold the database's write
        # lock from their BEGIN IMMEDIATE: nobody can take these ids meanwhile.
        highest = connection.execute(select(func.max(table.c.id))).scalar_one_or_none() or 0
        return list(range(highest + 1, highest + 1 + count))
    return None


def _without_id(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key != "id"}
