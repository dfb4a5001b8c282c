"""Helpers for the end-to-end tests: run `reminders`, manage `serve` processes, read results.

Every child process is bounded: one-shot commands by a timeout, `serve` processes
by `Processes`, which kills whatever is still running when its block ends.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from types import TracebackType
from unittest import mock
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from reminders.bootstrap import build_app
from reminders.db.models import Message
from reminders.intake import TreatmentInput
from reminders.patients import PatientInput
from reminders.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "config"
REMINDERS = Path(sys.executable).parent / "reminders"
CLINIC_ZONE = ZoneInfo("America/New_York")  # config/clinic.toml
RESTRICTION = timedelta(hours=4)  # config/clinic.toml
QUIET_START, QUIET_END = wall_time(21, 0), wall_time(8, 0)  # config/clinic.toml
CLI_TIMEOUT = 30.0
READY_TEXT = "Ctrl-C to stop"


# -- environment -----------------------------------------------------------------


def cli_env(data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any REMINDERS_* variable, plus the test's."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("REMINDERS_") and name != "FORCE_COLOR"
    }
    env.update(
        {
            "REMINDERS_DATA_DIR": str(data_dir),
            "REMINDERS_CONFIG_DIR": str(CONFIG_DIR),
            "COLUMNS": "200",
            "NO_COLOR": "1",
        }
    )
    env.update(extra or {})
    return env


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'reminders.db').resolve()}"


def squash(text: str) -> str:
    """Whitespace collapsed, so a line rich wrapped still matches."""
    return " ".join(text.split())


# -- one-shot commands -----------------------------------------------------------


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"`reminders {' '.join(self.args)}` exited {self.returncode}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


def run_cli(args: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> Result:
    """Run `reminders ARGS` to completion (killed after CLI_TIMEOUT seconds)."""
    completed = subprocess.run(
        [str(REMINDERS), *args],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    return Result(tuple(args), completed.returncode, completed.stdout, completed.stderr)


def logged_id(result: Result) -> int:
    """The treatment id from `log`'s first line, `Logged treatment 12.`"""
    match = re.match(r"Logged treatment (\d+)\.\n", result.stdout)
    assert match, result.describe()
    return int(match.group(1))


def table_rows(text: str, columns: int) -> list[list[str]]:
    """The rows of a rich table with `columns` columns: one list of cells per row.

    Continuation lines of a multi-line cell (first cell blank) are not rows.
    """
    rows = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("│"):
            continue
        cells = [cell.strip() for cell in stripped.strip("│").split("│")]
        if len(cells) == columns and cells[0]:
            rows.append(cells)
    return rows


SHOW_COLUMNS = 9  # msg, step, channel, state, due, sent, delivery, attempts, history
LIST_COLUMNS = 9  # msg, treatment, patient, step, channel, state, due, sent, reason


@dataclass(frozen=True)
class ShownMessage:
    id: int
    step: str
    channel: str
    state: str
    due: str
    sent: str


def shown_messages(text: str) -> list[ShownMessage]:
    """The messages table of `show`, `log` or `reschedule` output."""
    return [
        ShownMessage(int(row[0]), row[1], row[2], row[3], row[4], row[5])
        for row in table_rows(text, SHOW_COLUMNS)
    ]


# -- expected times --------------------------------------------------------------


def staff_time(instant: datetime) -> str:
    """How staff screens show an instant: `2026-03-08 05:30 EDT`."""
    return f"{instant.astimezone(CLINIC_ZONE):%Y-%m-%d %H:%M %Z}"


def expected_all_clear_due(treatment_at: datetime) -> datetime:
    """Restriction end, held to the end of quiet hours when it falls inside them."""
    natural = (treatment_at + RESTRICTION).astimezone(CLINIC_ZONE)
    clock = natural.time()
    if clock >= QUIET_START or clock < QUIET_END:
        day = natural.date() if clock < QUIET_END else natural.date() + timedelta(days=1)
        return datetime.combine(day, QUIET_END, tzinfo=CLINIC_ZONE)
    return natural


# -- waiting ---------------------------------------------------------------------


def wait_for(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.02,
    what: str,
    diagnose: Callable[[], str] | None = None,
) -> float:
    """Poll until `predicate()` holds; the seconds it took. Fails after `timeout`."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            detail = f"\n{diagnose()}" if diagnose else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{detail}")
        time.sleep(interval)


# -- serve processes -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServeProcess:
    """`reminders serve` (or `worker`), with stdout and stderr going to files in `cwd`.

    `serve` also runs the HTTP API: it gets a free loopback port of its own.
    """

    def __init__(
        self, *, env: Mapping[str, str], cwd: Path, name: str, command: str = "serve"
    ) -> None:
        self.name = name
        env = {**env, "REMINDERS_API__PORT": str(free_port())}
        self.stdout_path = cwd / f"{name}.stdout"
        self.stderr_path = cwd / f"{name}.stderr"
        # The child keeps its own copies of the descriptors; ours close at once.
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.popen = subprocess.Popen(
                [str(REMINDERS), command],
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def running(self) -> bool:
        return self.popen.poll() is None

    def describe(self) -> str:
        tail = "\n".join(self.stderr().splitlines()[-30:])
        return f"serve {self.name} (pid {self.pid}, exit {self.popen.poll()}); stderr tail:\n{tail}"

    def wait_ready(self, timeout: float = 20.0) -> float:
        def ready() -> bool:
            if READY_TEXT in squash(self.stderr()):
                return True
            if not self.running():
                raise AssertionError(f"serve exited before it was ready\n{self.describe()}")
            return False

        return wait_for(ready, timeout=timeout, what=f"{self.name} ready", diagnose=self.describe)

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM, then the exit code; fails if it takes longer than `timeout`.

        Waits for the process to be up first: before it has installed its signal
        handlers (still importing), SIGTERM would kill it rather than stop it.
        """
        if self.running():
            self.wait_ready()
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(
                f"serve did not exit within {timeout:g} s of SIGTERM\n{self.describe()}"
            ) from exc

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=10)


class Processes:
    """Every `serve` a test started; whatever still runs when the block ends is killed."""

    def __init__(self) -> None:
        self._started: list[ServeProcess] = []

    def serve(
        self, *, env: Mapping[str, str], cwd: Path, name: str, command: str = "serve"
    ) -> ServeProcess:
        process = ServeProcess(env=env, cwd=cwd, name=name, command=command)
        self._started.append(process)
        return process

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for process in self._started:
            process.kill()


# -- results ---------------------------------------------------------------------


def outbox_ids(path: Path) -> list[int]:
    """Message ids in the console outbox, one per complete line, in order."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")[:-1]  # the last piece is empty or a line still being written
    return [int(json.loads(line)["message_id"]) for line in lines if line]


@dataclass(frozen=True)
class MessageRow:
    id: int
    treatment_id: int
    step_id: str
    state: str
    attempts: int
    claim_token: str | None
    claimed_by: str | None
    lease_until: object
    handed_at: object


class Database:
    """Read-only look at the service's tables, one short connection per question."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, poolclass=NullPool)

    def close(self) -> None:
        self.engine.dispose()

    def messages(self) -> list[MessageRow]:
        query = sa.text(
            "SELECT id, treatment_id, step_id, state, attempts, claim_token, claimed_by, "
            "lease_until, handed_at FROM messages ORDER BY id"
        )
        with self.engine.connect() as connection:
            return [MessageRow(*row) for row in connection.execute(query)]

    def states(self, ids: Sequence[int] | None = None) -> dict[int, str]:
        wanted = set(ids) if ids is not None else None
        return {m.id: m.state for m in self.messages() if wanted is None or m.id in wanted}

    def count(self, table: str) -> int:
        assert table in {"clinics", "patients", "treatments", "messages", "message_events"}
        with self.engine.connect() as connection:
            return int(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608

    def column(self, sql: str, **params: object) -> list[object]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.text(sql), params).scalars())

    def scalar(self, sql: str, **params: object) -> object:
        with self.engine.connect() as connection:
            return connection.execute(sa.text(sql), params).scalar_one_or_none()


@contextmanager
def database(url: str) -> Iterator[Database]:
    db = Database(url)
    try:
        yield db
    finally:
        db.close()


# -- preparing work --------------------------------------------------------------


def log_treatments(env: Mapping[str, str], count: int, *, first_phone: int = 100) -> list[int]:
    """Log `count` botox treatments in-process, as the CLI would; their avoid message ids.

    Settings are read from the same REMINDERS_* variables the child processes get.
    Each patient has a phone of their own: +1212555 followed by 0100, 0101, ...
    """
    variables = {name: value for name, value in env.items() if name.startswith("REMINDERS_")}
    with mock.patch.dict(os.environ, variables):
        settings = load_settings()
    application = build_app(settings)
    try:
        now = application.clock.now()
        treatment_ids = application.service.log_treatments(
            application.clinic.id,
            [
                TreatmentInput(
                    patient=PatientInput(
                        name=f"Patient {n}", phone=f"+1212555{n:04d}", sms_consent_at=now
                    ),
                    treatment_type="botox",
                )
                for n in range(first_phone, first_phone + count)
            ],
        )
        with application.sessions() as session:
            avoid_ids = session.scalars(
                sa.select(Message.id)
                .where(Message.treatment_id.in_(treatment_ids), Message.step_id == "avoid")
                .order_by(Message.id)
            ).all()
        return list(avoid_ids)
    finally:
        application.close()
