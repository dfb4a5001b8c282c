"""`reminders api` with every thread profiled, for `bench.api_load --profile`.

    python -m bench.api_server --profile-to PATH

Runs the same command as `reminders api` (settings from REMINDERS_* variables); once
uvicorn has stopped on SIGTERM, writes the merged cProfile of the event loop and the
request threads to PATH.
"""

from __future__ import annotations

import argparse
import cProfile
import sys
from pathlib import Path

from bench import common
from reminders import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_server", description=__doc__)
    parser.add_argument("--profile-to", type=Path, required=True)
    args = parser.parse_args(argv)
    loop = cProfile.Profile()
    with common.all_threads_profiled() as profiles:
        loop.enable()
        try:
            cli.run_api(log_level="WARNING")
        finally:
            loop.disable()
    args.profile_to.write_text(common.merged_profile([("loop", loop), *profiles], limit=45))
    return 0


if __name__ == "__main__":
    sys.exit(main())
