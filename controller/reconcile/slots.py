"""``--max-concurrent-canaries``: how many canaries may run an analysis at the same time.

A slot is taken when an analysis starts (the engine's ``AcquireSlot`` request) and held while the
Canary is in an active phase; it is released when the Canary rests (Succeeded, Failed,
Initialized) or waits for a slot, and when the Canary is deleted (its daemon ends, ``release``).
Canaries without a slot wait in phase Waiting with a Warning Event that says why, and ask again
every few seconds.

The holders are in memory and rebuilt from the Canaries' phases: after a restart, a Canary whose
status says it is analysing takes its slot back on its first tick, even above the limit, so a
restart never stops an analysis half-way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ACTIVE_PHASES = frozenset({"Progressing", "WaitingPromotion", "Promoting", "Finalising"})


@dataclass
class AnalysisSlots:
    limit: int | None = None
    holders: set[str] = field(default_factory=set)

    def acquire(self, key: str) -> bool:
        if key in self.holders or self.limit is None or len(self.holders) < self.limit:
            self.holders.add(key)
            return True
        return False

    def release(self, key: str) -> None:
        """Give the slot back (the Canary is gone); a no-op when ``key`` holds none."""
        self.holders.discard(key)

    def settle(self, key: str, phase: str) -> None:
        """Keep the slot while ``phase`` is active; give it back otherwise."""
        if phase in ACTIVE_PHASES:
            self.holders.add(key)
        else:
            self.holders.discard(key)
