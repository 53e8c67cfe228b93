"""Translation memory: identical (model, source and target language, glossary, segment) -> the stored
translation, without touching an engine. A bounded LRU in each router replica.

Entries hold the cleaned translation of the *masked* segment, so "see ⟦0⟧" translated once serves
every segment that differs only in the URL or code the placeholder stands for.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    masked: str
    flags: tuple[str, ...]


class TranslationMemory:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self._entries: OrderedDict[str, Entry] = OrderedDict()

    @staticmethod
    def key(model: str, source: str, target: str, glossary: dict[str, str] | None, segment: str) -> str:
        raw = json.dumps([model, source, target, sorted((glossary or {}).items()), segment], ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()

    def get(self, key: str) -> Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: Entry) -> None:
        if self.capacity <= 0:
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
