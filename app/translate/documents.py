"""The texts of a /v1/translate request as the Translator's units, and its events back per text.

A plain text is one unit, which segment.split cuts into lines and sentences. A markdown or html text
is read by its file format's reader (app.files.read_text), as an uploaded .md or .html file is: its
blocks are the units and the markup between them stays in the document, so both routes share one
parser per format. All the texts' units are planned and translated together; `rebuilt` then turns
the Translator's events over units into events over texts, each text rebuilt around its units'
translations (an identity translation gives the text back unchanged).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from app import files
from app.errors import InvalidRequest
from app.translate.translator import Delta, Event, UnitDone


@dataclass(frozen=True)
class Texts:
    units: list[tuple[str, str]]  # (text, fmt) of every unit, text after text
    docs: list[files.SpliceDoc] | None  # markdown, html: each text's document; plain: None, a text is a unit


def read(texts: list[str], fmt: str, max_units: int, param: str = "text") -> Texts:
    """The units of `texts`. A markdown or html request may hold at most `max_units` blocks (the request's
    segment limit: each block with words is one segment or more), refused while reading, as the
    Translator refuses pieces past it; `param` names the field an error points at."""
    if fmt == "plain":
        return Texts([(text, fmt) for text in texts], None)
    docs: list[files.SpliceDoc] = []
    units: list[tuple[str, str]] = []
    for text in texts:
        try:
            doc = files.read_text(text, fmt, max_units - len(units))
        except files.FileTooLarge:
            raise InvalidRequest(
                f"too many segments to translate in one request (limit {max_units})",
                param=param,
                code="too_many_segments",
            ) from None
        except files.UnsupportedFile as exc:
            exc.param = param
            raise
        docs.append(doc)
        units += [(unit.text, unit.fmt) for unit in doc.units]
    return Texts(units, docs)


async def rebuilt(events: AsyncIterator[Event], texts: Texts) -> AsyncIterator[Event]:
    """The Translator's events over `texts.units` as events over the texts: for a markdown or html text a
    Delta for each stretch that is complete, markup between units included (its Deltas join to the
    whole text, front to back), then a UnitDone with the whole and the union of its units' flags.
    Plain texts are units already: their events pass through."""
    async with aclosing(events):
        if texts.docs is None:
            async for event in events:
                yield event
            return
        for index, doc in enumerate(texts.docs):
            stream, whole, flags = files.TextStream(doc), [], set()
            chunk = stream.take()  # the markup before the first unit
            for _ in doc.units:
                if chunk:
                    whole.append(chunk)
                    yield Delta(index, chunk)
                done = await _next_unit(events)
                flags.update(done.flags)
                chunk = stream.add(done.text)
            if chunk:
                whole.append(chunk)
                yield Delta(index, chunk)
            yield UnitDone(index, "".join(whole), sorted(flags))


async def _next_unit(events: AsyncIterator[Event]) -> UnitDone:
    while not isinstance(event := await anext(events), UnitDone):
        pass  # a Delta of one piece: a unit is rendered whole, once its pieces are all done
    return event
