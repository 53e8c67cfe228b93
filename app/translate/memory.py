"""Translation memory: a segment translated once under the same conditions -> the stored translation,
without touching an engine. A bounded LRU in each router replica.

Entries hold the cleaned translation of the *masked* segment, so "see ⟦0⟧" translated once serves
every segment that differs only in the URL or code the placeholder stands for.

The key (`MemoryScope.key`) covers everything that changes the output: model and adapter, prompt style,
languages, the unit's format (HTML output is escaped, plain is not), glossary, sampling, and the
caller, so one API key's translations never reach another. Only what a repeat request would get
again is stored: greedy outputs (temperature 0) with no flag but repairs; a sampled or suspicious
answer is the model's luck, not a translation to hand out again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property

# Flags saying what cleanup fixed, not that the result is doubtful (app/translate/cleanup.py).
REPAIRS = frozenset({"chatter_removed", "echo_removed", "truncated_continuation", "quotes_removed"})
REPAIR_PREFIXES = ("glossary_repaired:",)


@dataclass(frozen=True)
class Entry:
    masked: str
    flags: tuple[str, ...]

    @property
    def sound(self) -> bool:
        """Nothing but repairs among its flags: safe to serve again."""
        return all(f in REPAIRS or f.startswith(REPAIR_PREFIXES) for f in self.flags)


@dataclass(frozen=True)
class MemoryScope:
    """The conditions of a translation, all but its segment: one per request and unit format."""

    caller: str | None  # the API key's label ("anonymous" when no keys are configured); None: shared
    model: str  # the served name the request used (a base model or one of its adapters)
    adapter: str | None
    prompt_style: str
    source: str
    target: str
    fmt: str  # of the unit the segment came from: plain, markdown or html
    glossary: tuple[tuple[str, str], ...]  # sorted
    temperature: float

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @cached_property
    def digest(self) -> bytes:
        # JSON's ASCII escapes keep any string encodable, lone surrogates included.
        raw = json.dumps(dataclasses.astuple(self), ensure_ascii=True, separators=(",", ":"))
        return hashlib.sha256(raw.encode("ascii")).digest()

    def key(self, segment: str) -> bytes:
        """The memory's key of a masked segment under these conditions: fixed size, however long the
        glossary. "surrogatepass" is still one-to-one: valid UTF-8 never holds an encoded surrogate."""
        return hashlib.sha256(self.digest + segment.encode("utf-8", "surrogatepass")).digest()


class TranslationMemory:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()

    def get(self, scope: MemoryScope, segment: str) -> Entry | None:
        if self.capacity <= 0 or not scope.greedy:
            return None
        digest = scope.key(segment)
        entry = self._entries.get(digest)
        if entry is not None:
            self._entries.move_to_end(digest)
        return entry

    def put(self, scope: MemoryScope, segment: str, entry: Entry) -> bool:
        """Store a greedy, sound translation; False when the policy keeps it out."""
        if self.capacity <= 0 or not scope.greedy or not entry.sound:
            return False
        digest = scope.key(segment)
        self._entries[digest] = entry
        self._entries.move_to_end(digest)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._entries)
