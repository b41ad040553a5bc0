"""The demo's printed timeline: simulated time since the start, who acted, and what."""

from __future__ import annotations

import textwrap
from datetime import datetime


class Timeline:
    def __init__(self, start: datetime):
        self.start = start

    def at(self, moment: datetime | None) -> str:
        seconds = int(((moment or self.start) - self.start).total_seconds())
        return f"[+{seconds // 60:02d}:{seconds % 60:02d}]"

    def line(self, moment: datetime | None, who: str, what: str) -> None:
        print(f"  {self.at(moment)} {who:<11} {what}")

    @staticmethod
    def block(text: str) -> None:
        print(textwrap.indent(text, "                       | ", predicate=lambda _: True))


def section(title: str) -> None:
    print(f"\n{title}\n{'-' * len(title)}")
