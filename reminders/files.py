"""Files that hold patient data are the service's alone: folders 0700, files 0600."""

from __future__ import annotations

import os
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path) -> Path:
    """Create the folder (and its parents) if needed, and make it the owner's alone."""
    path.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    os.chmod(path, FOLDER_MODE)
    return path


def private_files(*paths: Path) -> None:
    """Make each existing file the owner's alone (an SQLite database and its journal)."""
    for path in paths:
        if path.exists():
            os.chmod(path, FILE_MODE)


def append_private(path: Path, text: str) -> None:
    """Append to a file created readable by its owner alone."""
    private_folder(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    with os.fdopen(descriptor, "a", encoding="utf-8") as file:
        file.write(text)
