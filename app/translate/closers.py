"""Where the closers of masked constructs lie in one text, so that an opener finds its closer by binary
search: closing code tags, "-->", "}}", and backtick runs (a code span closes at the next run of as many
backticks on its line). Tables are built on first need, in one pass over the text each.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

_TICK_RUN = re.compile("`+")
_NEWLINE = re.compile("\n")
_CLOSERS = {
    "gt": (re.compile(">"), 1),
    "comment": (re.compile("-->"), 3),
    "braces": (re.compile(r"(?=\}\})"), 2),
    "code": (re.compile(r"</(code|kbd|samp|var|tt)\s*+>", re.IGNORECASE), 0),
}


class Closers:
    """Where closers lie in one text, found on first need; each lookup is then a binary search."""

    def __init__(self, text: str):
        self.text = text
        self.found: dict[str, dict[str, list[tuple[int, int]]]] = {}
        self.runs: TickRuns | None = None

    def after(self, kind: str, pos: int, name: str = "") -> int | None:
        """End of the first closer of `kind` (of element `name`) starting at or after pos."""
        if kind not in self.found:
            pattern, size = _CLOSERS[kind]
            table: dict[str, list[tuple[int, int]]] = {}
            for m in pattern.finditer(self.text):
                key = m[1].lower() if kind == "code" else ""
                table.setdefault(key, []).append((m.start(), m.end() if kind == "code" else m.start() + size))
            self.found[kind] = table
        spans = self.found[kind].get(name, [])
        i = bisect_left(spans, (pos,))
        return spans[i][1] if i < len(spans) else None

    def ticks(self) -> TickRuns:
        if self.runs is None:
            self.runs = TickRuns(self.text)
        return self.runs


class TickRuns:
    """The text's backtick runs: which run closes a code span is a lookup."""

    def __init__(self, text: str):
        self.text = text
        self.spans = [m.span() for m in _TICK_RUN.finditer(text)]
        self.by_length: dict[int, list[int]] = {}  # run length -> starts of runs of exactly that length
        for start, end in self.spans:
            self.by_length.setdefault(end - start, []).append(start)
        self.newlines = [m.start() for m in _NEWLINE.finditer(text)]
        self._shortest_after: list[int] | None = None

    def _line_end(self, pos: int) -> int:
        line = bisect_left(self.newlines, pos)
        return self.newlines[line] if line < len(self.newlines) else len(self.text)

    def close(self, run_end: int, length: int) -> int | None:
        """End of the first run of exactly `length` backticks after run_end, on the same line."""
        starts = self.by_length.get(length, [])
        i = bisect_right(starts, run_end)
        return starts[i] + length if i < len(starts) and starts[i] < self._line_end(run_end) else None

    def inner(self, start: int, run_end: int) -> tuple[int, int] | None:
        """The span opened inside the run [start, run_end) by its last n backticks, for the largest n
        that a later run closes (the plain pattern tries each position of the run in turn)."""
        if self._shortest()[bisect_left(self.spans, (start,))] >= run_end - start:
            return None
        lengths = sorted(self.by_length)
        for length in reversed(lengths[: bisect_left(lengths, run_end - start)]):
            end = self.close(run_end, length)
            if end is not None:
                return run_end - length, end
        return None

    def _shortest(self) -> list[int]:
        """The shortest run after each run on its line: without a shorter one, no span opens inside a run."""
        if self._shortest_after is None:
            spans, shortest = self.spans, [len(self.text) + 1] * len(self.spans)
            for i in range(len(spans) - 2, -1, -1):
                if self._line_end(spans[i][0]) > spans[i + 1][0]:
                    shortest[i] = min(spans[i + 1][1] - spans[i + 1][0], shortest[i + 1])
            self._shortest_after = shortest
        return self._shortest_after
