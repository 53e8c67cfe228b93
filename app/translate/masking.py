"""Where the text the model must copy verbatim lies (URLs, code, markup, placeholders): segment.protect
masks these spans with ⟦n⟧ tokens.

Finding them takes time linear in the text, whatever it holds. One alternation finds the leftmost span
as `re.finditer` over the plain pattern would, except that link targets and e-mails are found from
their anchors ("](", "@") and constructs with a lazy body (`code spans`, <code>…</code>, <!-- … -->,
{{…}}) match only their opener there: the closer is looked up in a table built once per text
(app/translate/closers.py), so a thousand openers that never close cost a thousand lookups, not a thousand
scans to the end. An e-mail starts where the run of local-part characters before its "@" starts (or
at the one place inside a run where a previous match can leave the scan), and quantifiers that could
only give characters back in vain are possessive. tests/unit/test_segment.py checks the spans
against the plain pattern on random text.
"""

from __future__ import annotations

import itertools
import re
import string
from collections.abc import Iterator
from functools import lru_cache

from app.translate.closers import Closers

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
# (kind, first characters, the rest) in the order they are tried at one position. Every branch of the
# pattern starts with one plain character, so the engine skips in C over text where nothing can start
# (a MiB of letters in 15 ms instead of 200); the rest ignores case. Link targets and e-mails start
# after "](" and before "@" whatever their first character: they are found from those anchors
# (_Anchored). ticks, code, comment and braces are openers only: their closers are looked up.
_ALTERNATIVES = [
    ("slot", "⟦〚", r"\s*\d+\s*(?:⟧|〛|\]\s*\])"),  # SLOT
    ("slot", "[", r"\s*\[\s*\d+\s*(?:⟧|〛|\]\s*\])"),
    # Inline code span, on one line: closed by the next run of as many backticks. Most are matched
    # whole by the first form (no backtick inside); the rest by the opener and a lookup.
    ("ticks_span", "`", r"(?P<run>`*+)(?#mark)[^`\n]++`(?P=run)(?!`)"),
    ("ticks", "`", "`*+"),
    *[("code", "<", rf"{name}\b") for name in ("code", "kbd", "samp", "var", "tt")],  # element, content included
    ("comment", "<", "!--"),
    ("tag", "<", r"/?[A-Za-z][\w:.-]*+(?:\s[^<>]*+)?/?>"),  # HTML/XML tag
    ("ref", "&", r"(?:[A-Za-z][A-Za-z0-9]{1,31}|#\d{1,7}|#[xX][0-9A-Fa-f]{1,6});"),  # character reference
    ("target", None, r"[^()\s]++(?:\([^()\s]*+\)[^()\s]*+)*+(?=[)\s])"),  # markdown link target, after "]("
    ("url", "Hh", rf"ttps?://{_URL_CHAR}+"),
    ("url", "Ff", rf"tp://{_URL_CHAR}+"),
    ("url", "Ww", rf"ww\.{_URL_CHAR}+"),
    ("email", None, _DOMAIN),  # after its whole local part (a run of [_LOCAL] before "@")
    ("braces", "{", r"\{"),  # {{x}}
    ("brace", "$", r"\{[^{}\n]*+\}"),  # ${x}
    ("brace", "{", r"[A-Za-z_0-9][\w.\-]*+(?:[!:][^{}\n]*+)?\}"),  # {name} {0} {x:>8}
    # printf family: %s %d %1$s %(name)s %.2f %ld %@ %%; never "50% off" or "20%off".
    (
        "printf",
        "%",
        r"(?:\d++\$)?(?:\([A-Za-z_]\w*+\))?[-+#0]*+(?:\d++|\*)?(?:\.(?:\d++|\*))?"
        r"(?:hh|h|ll|l|L|q|j|z|t)?[diouxXeEfFgGcrsa@%](?![A-Za-z])",
    ),
]
_KINDS = [kind for kind, _, _ in _ALTERNATIVES]
_OPENERS = frozenset(("ticks", "code", "comment", "braces"))
_GROUPS = {f"a{i}_{j}": i for i, (_, firsts, _) in enumerate(_ALTERNATIVES) for j in range(len(firsts or ""))}
_FINAL = frozenset(name for name, i in _GROUPS.items() if _KINDS[i] not in _OPENERS | {"url"})
_ALL = frozenset(range(len(_ALTERNATIVES)))
_URL_ALTERNATIVES = frozenset(i for i, kind in enumerate(_KINDS) if kind == "url")
_TARGET, _EMAIL = (_KINDS.index(kind) for kind in ("target", "email"))
_TARGET_AT = re.compile(_ALTERNATIVES[_TARGET][2])
_LINK = re.compile(r"\]\(")
_LOCAL_RUN = re.compile(f"[{_LOCAL_FOLDED}]*")
_EMAIL_DOMAIN = re.compile(_DOMAIN, re.IGNORECASE)


@lru_cache(maxsize=64)
def _alternation(alive: frozenset[int], after: int = -1) -> re.Pattern:
    """The alternatives in `alive` (those past index `after`) as one pattern, one branch per first
    character; the empty group after it names the alternative that matched (m.lastgroup)."""
    return re.compile(
        "|".join(
            re.escape(first) + _named(rest, f"a{i}_{j}")
            for i, (kind, firsts, rest) in enumerate(_ALTERNATIVES)
            if i in alive and i > after
            for j, first in enumerate(firsts or "")
        )
    )


def _named(rest: str, name: str) -> str:
    """The rest of an alternative with its empty marker group: first, or where "(?#mark)" puts it (after
    the groups of the rest, since the last group to close names the match)."""
    if "(?#mark)" in rest:
        return f"(?i:{rest.replace('(?#mark)', f'(?P<{name}>)')})"
    return f"(?P<{name}>)(?i:{rest})"


class _Anchored:
    """Link targets and e-mails, found from "](" and "@" and handed out in text order."""

    def __init__(self, text: str):
        found = []
        if "](" in text:
            for link in _LINK.finditer(text):
                target = _TARGET_AT.match(text, link.end())
                if target:
                    found.append((link.end(), _TARGET, target.end()))
        if "@" in text:
            backwards = None  # a local part is the run of its characters before "@", measured backwards
            for domain in _EMAIL_DOMAIN.finditer(text):  # in C: only "@" with a domain cost Python work
                at = domain.start()
                backwards = text[::-1] if backwards is None else backwards
                start = at - (_LOCAL_RUN.match(backwards, len(text) - at).end() - (len(text) - at))
                if start < at:
                    found.append((start, _EMAIL, domain.end()))
        self.found = sorted(found)
        self.next = 0

    def first(self, pos: int) -> tuple[int, int, int] | None:
        """(start, alternative, end) of the first one starting at or after pos."""
        while self.next < len(self.found) and self.found[self.next][0] < pos:
            self.next += 1
        return self.found[self.next] if self.next < len(self.found) else None


class _Scanner:
    """One text's protected spans, in order. An opener that finds no closer at all proves that none of
    its kind after it can either: its alternative leaves the pattern."""

    def __init__(self, text: str):
        self.text = text
        self.closers = Closers(text)
        self.anchored = _Anchored(text)
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
            anchored = self.anchored.first(pos)
            if anchored and (m is None or anchored[:2] < (m.start(), _GROUPS[m.lastgroup])):
                pos = anchored[2]
                after_match = True
                yield anchored[0], pos
                continue
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
        index = _GROUPS[m.lastgroup]
        kind, start = _KINDS[index], m.start()
        if kind == "url":
            return (start, _url_end(m[0], start)), m.end()
        if kind not in _OPENERS:
            return (start, m.end()), m.end()
        end = self._closer(kind, index, m)
        if end is not None:
            return (start, end), end
        rest = _alternation(self.alive, index).match(self.text, start)
        anchored = self.anchored.first(start)
        if anchored and anchored[0] == start and (rest is None or anchored[1] < _GROUPS[rest.lastgroup]):
            return anchored[::2], anchored[2]
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
    kept = max(
        _last_kept(url, closer, max(1, url.count(closer, 0, end) - url.count(opener, 0, end) + 1), trail, end)
        for closer, opener in ((")", "("), ("]", "["))
    )
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
