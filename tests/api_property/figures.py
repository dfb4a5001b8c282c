"""What the fuzzing tests did, for the terminal summary (see conftest.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Figures:
    operations: set[str] = field(default_factory=set)
    # (database, phase, mode) -> requests sent
    cases: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)  # "2xx", "4xx", "5xx"
    # distinct (test, operation, error type): shrinking repeats a failure many times
    failures: set[tuple[str, str, str]] = field(default_factory=set)

    def record(self, database: str, operation: str, phase: str, mode: str, status: int) -> None:
        self.operations.add(operation)
        self.cases[database, phase, mode] += 1
        self.statuses[f"{status // 100}xx"] += 1

    def failed(self, test: str, operation: str, error: Exception) -> None:
        self.failures.add((test, operation, type(error).__name__))

    def lines(self) -> list[str]:
        out = [f"operations fuzzed: {len(self.operations)}"]
        for database in sorted({d for d, _, _ in self.cases}):
            per_phase = Counter[str]()
            for (d, phase, mode), n in self.cases.items():
                if d == database:
                    per_phase[f"{phase}/{mode}"] += n
            total = sum(per_phase.values())
            detail = ", ".join(f"{key} {n}" for key, n in sorted(per_phase.items()))
            out.append(f"{database}: {total} requests ({detail})")
        out.append("responses: " + ", ".join(f"{k} {n}" for k, n in sorted(self.statuses.items())))
        out.append(f"failures found: {len(self.failures)}")
        out += [
            f"  {test}: {operation}: {error}" for test, operation, error in sorted(self.failures)
        ]
        return out


FIGURES = Figures()
