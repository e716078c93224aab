"""Where a long job's time goes: named phases (with optional parts) timed once, printed as a table, saved as JSON."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Iterator


@dataclass
class Phase:
    name: str
    seconds: float
    parts: list[tuple[str, float]] = field(default_factory=list)
    note: str = ""


class Timings:
    """Phases in the order they ran; `time(name)` measures one, `add` records one measured elsewhere."""

    def __init__(self) -> None:
        self.phases: list[Phase] = []
        self._started = time.perf_counter()

    @contextlib.contextmanager
    def time(self, name: str, note: str = "") -> Iterator[Phase]:
        phase = Phase(name, 0.0, note=note)
        started = time.perf_counter()
        try:
            yield phase
        finally:
            phase.seconds = time.perf_counter() - started
            self.phases.append(phase)

    def add(self, name: str, seconds: float, parts: list[tuple[str, float]] | None = None, note: str = "") -> Phase:
        phase = Phase(name, float(seconds), list(parts or []), note)
        self.phases.append(phase)
        return phase

    @property
    def total(self) -> float:
        return time.perf_counter() - self._started

    def to_dict(self) -> dict[str, Any]:
        total = self.total
        return {
            "total_seconds": total,
            "phases": [
                {"name": p.name, "seconds": p.seconds, "note": p.note,
                 "parts": [{"name": n, "seconds": s} for n, s in p.parts]}
                for p in self.phases
            ],
        }

    def table(self) -> str:
        """A plain-text table: phase, seconds, share of the total; parts indented under their phase."""
        total = self.total
        rows = [("phase", "seconds", "share")]
        for phase in self.phases:
            note = f" ({phase.note})" if phase.note else ""
            rows.append((phase.name + note, f"{phase.seconds:.1f}", f"{100 * phase.seconds / total:.0f} %" if total else ""))
            rows += [(f"  {name}", f"{seconds:.1f}", f"{100 * seconds / total:.0f} %" if total else "")
                     for name, seconds in phase.parts]
        rows.append(("total", f"{total:.1f}", "100 %"))
        width = max(len(r[0]) for r in rows)
        return "\n".join(f"{a:<{width}}  {b:>8}  {c:>5}" for a, b, c in rows)
