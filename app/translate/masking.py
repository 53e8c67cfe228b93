"""Where the text the model must copy verbatim lies (URLs, code, markup, placeholders): segment.protect
masks these spans with ⟦n⟧ tokens.

Finding them takes time linear in the text, whatever it holds. One alternation finds the
leftmost span as `re.finditer` over the plain pattern would, except that constructs with a lazy body
(`code spans`, <code>…</code>, <!-- … -->, {{…}}) match only their opener there: the closer is looked
up in a table built once per text, so a thousand openers that never close cost a thousand lookups, not
a thousand scans to the end. The e-mail local part is anchored at the start of its run (and at the
one place inside a run a previous match can leave the scan), and quantifiers that could only give
characters back in vain are possessive. tests/unit/test_segment.py checks the spans against the plain
pattern on random text.
"""

from __future__ import annotations

import itertools
import re
import string
from bisect import bisect_left, bisect_right
from functools import lru_cache
from typing import Iterator

# A placeholder as restore reads it back, model mangling included; protect masks such text in a source, so a
# literal "[[3]]" stays literal (and app.translate.glossary refuses glossary terms of this shape).
SLOT = re.compile(r"(?:⟦|〚|\[\s*\[)\s*(\d+)\s*(?:⟧|〛|\]\s*\])")
# Printable ASCII but space " < > `: a URL ends at the first CJK character, as in "访问https://x.cn获取".
_URL_CHAR = r"[!#-;=?-_a-~]"
_URL_TAIL = ".,;:!?'\"*_"
# An e-mail's local part; the patterns ignore case, so four non-ASCII letters that fold to ASCII ones
# match too (İ ı ſ K). The first character of each alternative is matched case-sensitively (see below).
_LOCAL = r"A-Za-z0-9._%+\-"
_LOCAL_FOLDED = _LOCAL + "\u0130\u0131\u017f\u212a"
_LOCAL_CHARS = frozenset(string.ascii_letters + string.digits + "._%+-\u0130\u0131\u017f\u212a")
_DOMAIN = r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
# (kind, first character, the rest) in the order they are tried at one position. Each alternative starts
# with a plain character or set, so the engine leaves an alternative after one comparison; the rest
# ignores case. ticks, code, comment and braces are openers only: their closers are looked up.
_ALTERNATIVES = [
    ("slot", "[⟦〚]", r"\s*\d+\s*(?:⟧|〛|\]\s*\])"),  # SLOT
    ("slot", r"\[", r"\s*\[\s*\d+\s*(?:⟧|〛|\]\s*\])"),
    # Inline code span, on one line: closed by the next run of as many backticks. Most are matched
    # whole by the first form (no backtick inside); the rest by the opener and a lookup.
    ("ticks_span", "`", r"(?P<run>`*+)(?#mark)[^`\n]++`(?P=run)(?!`)"),
    ("ticks", "`", "`*+"),
    *[("code", "<", rf"{name}\b") for name in ("code", "kbd", "samp", "var", "tt")],  # element, content included
    ("comment", "<", "!--"),
    ("tag", "<", r"/?[A-Za-z][\w:.-]*+(?:\s[^<>]*+)?/?>"),  # HTML/XML tag
    ("ref", "&", r"(?:[A-Za-z][A-Za-z0-9]{1,31}|#\d{1,7}|#[xX][0-9A-Fa-f]{1,6});"),  # character reference
    ("target", r"[^()\s](?<=\]\(.)", r"[^()\s]*+(?:\([^()\s]*+\)[^()\s]*+)*+(?=[)\s])"),  # markdown link target
    ("url", "[Hh]", rf"ttps?://{_URL_CHAR}+"),
    ("url", "[Ff]", rf"tp://{_URL_CHAR}+"),
    ("url", "[Ww]", rf"ww\.{_URL_CHAR}+"),
    ("email", f"[{_LOCAL_FOLDED}](?<![{_LOCAL_FOLDED}].)", rf"[{_LOCAL}]*+{_DOMAIN}"),  # at the start of its run
    ("braces", r"\{", r"\{"),  # {{x}}
    ("brace", r"\$", r"\{[^{}\n]*+\}"),  # ${x}
    ("brace", r"\{", r"[A-Za-z_0-9][\w.\-]*+(?:[!:][^{}\n]*+)?\}"),  # {name} {0} {x:>8}
    # printf family: %s %d %1$s %(name)s %.2f %ld %@ %%; never "50% off" or "20%off".
    ("printf", "%", r"(?:\d++\$)?(?:\([A-Za-z_]\w*+\))?[-+#0]*+(?:\d++|\*)?(?:\.(?:\d++|\*))?"
                    r"(?:hh|h|ll|l|L|q|j|z|t)?[diouxXeEfFgGcrsa@%](?![A-Za-z])"),
]
_OPENERS = frozenset(("ticks", "code", "comment", "braces"))
_FINAL = frozenset(f"{kind}_{i}" for i, (kind, _, _) in enumerate(_ALTERNATIVES) if kind not in _OPENERS | {"url"})
_TICK_RUN = re.compile("`+")
_NEWLINE = re.compile("\n")
_ALL = frozenset(range(len(_ALTERNATIVES)))
_URL_ALTERNATIVES = frozenset(i for i, (kind, _, _) in enumerate(_ALTERNATIVES) if kind == "url")
_LOCAL_RUN = re.compile(f"[{_LOCAL_FOLDED}]*")
_EMAIL_DOMAIN = re.compile(_DOMAIN, re.IGNORECASE)
_CLOSERS = {"gt": (re.compile(">"), 1), "comment": (re.compile("-->"), 3), "braces": (re.compile(r"(?=\}\})"), 2),
            "code": (re.compile(r"</(code|kbd|samp|var|tt)\s*+>", re.IGNORECASE), 0)}


@lru_cache(maxsize=64)
def _alternation(alive: frozenset[int], after: int = -1) -> re.Pattern:
    """The alternatives in `alive` (those past index `after`) as one pattern; the empty group after the
    first character names the alternative that matched (m.lastgroup)."""
    return re.compile("|".join(f"{first}{_named(rest, f'{kind}_{i}')}" for i, (kind, first, rest)
                               in enumerate(_ALTERNATIVES) if i in alive and i > after))


def _named(rest: str, name: str) -> str:
    """The rest of an alternative with its empty marker group: first, or where "(?#mark)" puts it (after
    the groups of the rest, since the last group to close names the match)."""
    if "(?#mark)" in rest:
        return f"(?i:{rest.replace('(?#mark)', f'(?P<{name}>)')})"
    return f"(?P<{name}>)(?i:{rest})"


class _Closers:
    """Where closers lie in one text, found on first need; each lookup is then a binary search."""

    def __init__(self, text: str):
        self.text = text
        self.found: dict[str, dict[str, list[tuple[int, int]]]] = {}
        self.runs: _TickRuns | None = None

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

    def ticks(self) -> _TickRuns:
        if self.runs is None:
            self.runs = _TickRuns(self.text)
        return self.runs


class _TickRuns:
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
        for length in reversed(lengths[:bisect_left(lengths, run_end - start)]):
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


class _Scanner:
    """One text's protected spans, in order. An opener that finds no closer at all proves that none of
    its kind after it can either: its alternative leaves the pattern."""

    def __init__(self, text: str):
        self.text = text
        self.closers = _Closers(text)
        self.alive = _ALL
        self.run = (0, 0, None)  # the e-mail local-part run last measured: start, end, e-mail end or None

    def __iter__(self) -> Iterator[tuple[int, int]]:
        text, pos, after_match = self.text, 0, False
        pattern = _alternation(self.alive)
        while True:
            if after_match and 0 < pos < len(text) and text[pos - 1] in _LOCAL_CHARS and text[pos] in _LOCAL_CHARS:
                email = self._email_inside_run(pos)  # a match ended inside a run: the anchored pattern misses it
                if email is not None:
                    yield pos, email
                    pos = email
                    continue
            m = pattern.search(text, pos)
            if m is None:
                return
            if m.lastgroup in _FINAL:  # most matches: nothing to look up
                pos = m.end()
                after_match = True
                yield m.start(), pos
                continue
            span, pos = self._complete(m)
            after_match = span is not None
            if span is not None:
                yield span
            pattern = _alternation(self.alive)

    def _complete(self, m: re.Match) -> tuple[tuple[int, int] | None, int]:
        """The span found at m's position (None if none) and where the scan resumes."""
        kind, index = m.lastgroup.rsplit("_", 1)
        start = m.start()
        if kind == "url":
            return (start, _url_end(m[0], start)), m.end()
        if kind not in _OPENERS:
            return (start, m.end()), m.end()
        end = self._closer(kind, int(index), m)
        if end is not None:
            return (start, end), end
        rest = _alternation(self.alive, int(index)).match(self.text, start)
        if rest is not None:
            span, resume = self._complete(rest)
            if span is not None:
                return span, resume
        if kind == "ticks":  # no other pattern starts inside a run of backticks
            inner = self.closers.ticks().inner(start, m.end())
            return (inner, inner[1]) if inner else (None, m.end())
        return None, start + 1

    def _closer(self, kind: str, index: int, m: re.Match) -> int | None:
        if kind == "ticks":
            return self.closers.ticks().close(m.end(), m.end() - m.start())
        if kind == "code":  # the start tag ends at the first ">", the element at its first closing tag
            gt = self.closers.after("gt", m.end())
            end = self.closers.after("code", gt, m[0][1:].lower()) if gt is not None else None
        else:
            end = self.closers.after(kind, m.end())
        if end is None:
            self.alive = self.alive - {index}
        return end

    def _email_inside_run(self, pos: int) -> int | None:
        """End of an e-mail starting at pos inside a run of local-part characters; the run is measured
        once however many matches end inside it."""
        if _alternation(_URL_ALTERNATIVES).match(self.text, pos):
            return None  # tried first here, and the scan finds it
        if not self.run[0] <= pos < self.run[1]:
            end = _LOCAL_RUN.match(self.text, pos).end()
            domain = _EMAIL_DOMAIN.match(self.text, end)
            self.run = (pos, end, domain.end() if domain else None)
        return self.run[2]


def spans(text: str) -> list[tuple[int, int]]:
    """Where protected text lies: sorted, disjoint (start, end) pairs."""
    return list(_Scanner(text))


def _last_kept(url: str, closer: str, n: int, lo: int, hi: int) -> int:
    """Index of the n-th `closer` counted back from hi within url[lo:hi], or lo - 1 if there are fewer."""
    if url.count(closer, lo, hi) < n:
        return lo - 1
    a, b = lo, hi - 1
    while a < b:  # the largest a with at least n closers in url[a:hi]
        mid = (a + b + 1) // 2
        if url.count(closer, mid, hi) >= n:
            a = mid
        else:
            b = mid - 1
    return a


def _url_end(url: str, start: int) -> int:
    """Give back sentence punctuation, and each ")" or "]" the URL never opened: "(see https://x.io).".
    Bracket counts, not a loop over the brackets: a URL may end in a million of them."""
    end = len(url.rstrip(_URL_TAIL))
    trail = len(url[:end].rstrip(")]" + _URL_TAIL))  # only these last characters may go
    if trail == end:
        return start + end
    kept = max(_last_kept(url, closer, max(1, url.count(closer, 0, end) - url.count(opener, 0, end) + 1), trail, end)
               for closer, opener in ((")", "("), ("]", "[")))
    return start + max(kept + 1, trail)


def has_words(text: str, protected: list[tuple[int, int]] | None = None) -> bool:
    """Some letter (Unicode category L*) lies outside the protected spans: worth sending to the model.
    Without `protected`, the spans are found only up to the first letter outside them."""
    last = 0
    for start, end in itertools.chain(_Scanner(text) if protected is None else protected, [(len(text), 0)]):
        if any(map(str.isalpha, text[last:start])):
            return True
        last = end
    return False
