"""CLI start-up: how long everyday `reminders` commands take, each in a new process.

    python -m bench.cli_startup [--runs N] [--commands help,log,list,show,log-new-db]
                                [--max-seconds S]

Every command is run N times through the installed `reminders` script, as a person at
the desk runs it, on the embedded SQLite default with the console channel (a temporary
data folder, the repository's config/). The commands take turns, one run of each per
round, so a passing load on the machine falls on all of them alike:

- help:       `reminders --help`;
- log:        `reminders log "Patient <i>" --treatment botox --phone ... --sms-consent`
              into a database that exists and is current (the everyday case);
- list:       `reminders list` over what the runs logged;
- show:       `reminders show 1`;
- log-new-db: the same `log` into a new data folder each run: the first command of an
              installation, which creates the database and applies every migration.

Python's bytecode cache is on (in a temporary folder, PYTHONPYCACHEPREFIX) and every
command runs once before it is timed, as an installed copy runs (pip compiles on
install): an editable install run with PYTHONDONTWRITEBYTECODE=1 compiles the package's
own modules on every start, which is not what a user's start-up costs.

Reported per command: wall time and CPU time (user + system, of the child) p50, p90
and max in milliseconds (nearest rank), and the third-party packages it imported (one
more run under `python -X importtime`). Targets: `--help` p50 < 150 ms, `log` p50
< 300 ms on an idle machine. Exit status 1 if a command failed. Writes
bench/results/cli_startup.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import common

REMINDERS = Path(sys.executable).parent / "reminders"
COMMANDS = ("help", "log", "list", "show", "log-new-db")
TARGETS_MS = {"help": 150.0, "log": 300.0}
TIMEOUT = 60.0
# What a command imports beyond the standard library and the package itself is what it
# costs to start: reported by top-level name.
OURS = {"reminders", "__main__", "encodings", "site", "sitecustomize"}
_IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", re.MULTILINE)


@dataclass
class Command:
    name: str
    arguments: Callable[[int], list[str]]  # run number -> arguments after `reminders`
    data_dir: Callable[[int], Path]  # run number -> its data folder
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def environment(data_dir: Path, pycache: Path) -> dict[str, str]:
    """This process's environment without REMINDERS_* or bytecode settings, plus ours."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("REMINDERS_") and name not in ("PYTHONDONTWRITEBYTECODE",)
    }
    env.update(
        {
            "REMINDERS_DATA_DIR": str(data_dir),
            "REMINDERS_CONFIG_DIR": str(common.CONFIG_DIR),
            "PYTHONPYCACHEPREFIX": str(pycache),
            "COLUMNS": "100",
            "NO_COLOR": "1",
        }
    )
    return env


def timed(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str | None]:
    """Run one process to completion: its wall time, its CPU time, and why it failed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=TIMEOUT,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    failed = None
    if done.returncode != 0:
        failed = f"exit {done.returncode}: {done.stderr.decode(errors='replace')[-500:]}"
    return wall, cpu, failed


def imported_packages(arguments: list[str], env: dict[str, str], cwd: Path) -> list[str]:
    """The third-party packages one run of `reminders ARGUMENTS` imports."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reminders", *arguments],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    tops = {name.split(".")[0] for name in _IMPORTED.findall(done.stderr)}
    return sorted(
        top
        for top in tops - OURS - set(sys.stdlib_module_names)
        # Not C helpers (`_ssl`), nor names only probed for (`org`, Jython's).
        if not top.startswith("_") and importlib.util.find_spec(top) is not None
    )


def _package(env: dict[str, str], cwd: Path) -> str:
    """Where the measured `reminders` package is (PYTHONPATH may point at another copy)."""
    done = subprocess.run(
        [sys.executable, "-c", "import reminders; print(reminders.__file__)"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    return str(Path(done.stdout.strip()).parent)


def commands(root: Path) -> dict[str, Command]:
    shared = root / "shared"

    def log(i: int) -> list[str]:
        return [
            "log",
            f"Patient {i}",
            "--treatment",
            "botox",
            "--phone",
            f"+1212555{100 + i % 100:04d}",  # 555-0100..0199: numbers for fiction
            "--sms-consent",
        ]

    return {
        "help": Command("help", lambda _: ["--help"], lambda _: shared),
        "log": Command("log", log, lambda _: shared),
        "list": Command("list", lambda _: ["list"], lambda _: shared),
        "show": Command("show", lambda _: ["show", "1"], lambda _: shared),
        "log-new-db": Command("log-new-db", log, lambda i: root / f"new-{i}"),
    }


def measure(args: argparse.Namespace, deadline: common.Deadline) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        root = Path(tmp)
        pycache = root / "pycache"
        every = commands(root)
        chosen = [every[name] for name in args.commands]
        # Not timed: fills the bytecode cache and creates the shared database (treatment 1).
        for command in (every["log"], *chosen):
            run = -1 if command.name == "log-new-db" else 0
            _, _, failed = timed(
                [str(REMINDERS), *command.arguments(run)],
                environment(command.data_dir(run), pycache),
                root,
            )
            if failed:
                command.failures.append(f"warm-up: {failed}")
        rounds = 0
        for i in range(1, args.runs + 1):
            if deadline.left() < 5:
                break
            rounds = i
            for command in chosen:
                wall, cpu, failed = timed(
                    [str(REMINDERS), *command.arguments(i)],
                    environment(command.data_dir(i), pycache),
                    root,
                )
                command.wall_s.append(wall)
                command.cpu_s.append(cpu)
                if failed:
                    command.failures.append(failed)
        imports = {
            c.name: imported_packages(c.arguments(0), environment(c.data_dir(0), pycache), root)
            for c in chosen
            if c.name != "log-new-db"
        }
        return {
            "package": _package(environment(root / "shared", pycache), root),
            "runs": rounds,
            "results": [_summary(c, imports.get(c.name)) for c in chosen],
        }


def _summary(command: Command, imports: list[str] | None) -> dict[str, Any]:
    wall, cpu = sorted(command.wall_s), sorted(command.cpu_s)

    def ms(values: list[float], fraction: float) -> float:
        return round(common.percentile(values, fraction) * 1000, 1)

    result: dict[str, Any] = {
        "command": command.name,
        "runs": len(wall),
        "wall_ms": {"p50": ms(wall, 0.5), "p90": ms(wall, 0.9), "max": ms(wall, 1.0)},
        "cpu_ms": {"p50": ms(cpu, 0.5), "p90": ms(cpu, 0.9), "max": ms(cpu, 1.0)},
        "imports": imports,
        "failures": command.failures,
    }
    target = TARGETS_MS.get(command.name)
    if target is not None:
        result["target_p50_ms"] = target
        result["met"] = bool(wall) and result["wall_ms"]["p50"] < target
    return result


def report(results: dict[str, Any]) -> tuple[str, bool]:
    rows = [
        (
            r["command"],
            r["runs"],
            r["wall_ms"]["p50"],
            r["wall_ms"]["p90"],
            r["wall_ms"]["max"],
            r["cpu_ms"]["p50"],
            r["cpu_ms"]["p90"],
            r["cpu_ms"]["max"],
            "-" if "met" not in r else f"< {r['target_p50_ms']:.0f}: {'yes' if r['met'] else 'NO'}",
        )
        for r in results["results"]
    ]
    head = ("command", "runs", "wall p50", "p90", "max", "cpu p50", "p90", "max", "target p50")
    lines = [
        f"CLI start-up of {results['package']} (ms, one process per run):",
        common.table(head, rows),
        "",
    ]
    for r in results["results"]:
        if r["imports"] is not None:
            lines.append(f"{r['command']} imports: {', '.join(r['imports'])}")
    failures = [(r["command"], f) for r in results["results"] for f in r["failures"]]
    for name, failure in failures[:5]:
        lines.append(f"FAILED {name}: {failure}")
    return "\n".join(lines), not failures


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.cli_startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="runs of each command (20)")
    parser.add_argument(
        "--commands", default=",".join(COMMANDS), help=f"comma-separated subset of {COMMANDS}"
    )
    parser.add_argument("--max-seconds", type=float, default=300.0, help="whole run (300)")
    args = parser.parse_args(argv)
    args.commands = [name.strip() for name in args.commands.split(",") if name.strip()]
    unknown = set(args.commands) - set(COMMANDS)
    if unknown:
        parser.error(f"unknown command(s): {', '.join(sorted(unknown))}")
    if not 1 <= args.runs <= 1000:
        parser.error("--runs must be in [1, 1000]")
    if not 0 < args.max_seconds <= 3600:
        parser.error("--max-seconds must be in (0, 3600]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    with common.guarded(args.max_seconds) as deadline:
        results = measure(args, deadline)
        text, ok = report(results)
        print(text, flush=True)
        common.write_results("cli_startup", results)
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
