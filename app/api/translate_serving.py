"""Serving logic of the translation routes (/v1/translate and /v1/translate/file); the router only
binds them to URLs. JSON or SSE out; errors are raised as FanyiError and shaped by the router."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import PurePath

from fastapi.responses import JSONResponse, Response, StreamingResponse

from app import files
from app.api import protocol
from app.api.error_map import to_client_error
from app.api.rate_limit import RateLimiter, current_principal
from app.translate import documents, glossary, languages
from app.translate.translator import INLINE_PLAN_CHARS, Context, Delta, Event, Route, Translator, UnitDone, Usage

# The source language is guessed from the start of a document: enough text to tell, and a bounded
# cost on the event loop however long the document is.
DETECT_CHARS = 4000


class TranslateService:
    def __init__(self, translator: Translator, resolve: Callable[..., Route], metrics, limiter: RateLimiter):
        self.translator = translator
        self.resolve = resolve  # (model name, (source, target)) -> Route; raises ModelNotFound
        self.metrics = metrics
        self.limiter = limiter

    def _context(
        self,
        rid: str,
        model: str | None,
        source: str | None,
        target: str,
        sample: str,
        terms: dict[str, str] | None,
        temperature: float,
    ) -> Context:
        target = _language(target, "target_lang")
        source = _language(source, "source_lang") if source else languages.detect(sample[:DETECT_CHARS])
        route = self.resolve(model, (source, target))
        who = current_principal.get()  # set by the gate; None outside a request
        return Context(
            request_id=rid,
            model=route.name,
            prompt_style=route.prompt_style,
            source=source,
            target=target,
            glossary=terms or None,
            temperature=temperature,
            handle=route.handle,
            adapter=route.adapter,
            caller=who.label if who is not None else None,
        )

    async def translate(self, body: protocol.TranslateRequest) -> Response:
        rid = "tr-" + uuid.uuid4().hex
        started = time.perf_counter()
        inputs = [body.text] if body.text is not None else body.segments
        param = "text" if body.text is not None else "segments"
        sample = body.text if body.text is not None else "\n".join(s[:DETECT_CHARS] for s in body.segments)
        ctx = self._context(
            rid, body.model, body.source_lang, body.target_lang, sample, body.glossary, body.temperature
        )
        # Size limits fail here, before any model call or a 200 header. Markdown and HTML are read by
        # their file formats' readers: CPU work of the text's size, on the translator's threads.
        args = (inputs, body.format, self.translator.max_pieces, param)
        if body.format == "plain" or sum(map(len, inputs)) <= INLINE_PLAN_CHARS:
            texts = documents.read(*args)
        else:
            texts = await self.translator.pool.run(documents.read, *args)
        pieces = await self.translator.prepare(texts.units, param)
        usage = Usage()
        events = documents.rebuilt(self.translator.run(pieces, len(texts.units), ctx, usage), texts)
        if body.stream:
            return StreamingResponse(
                self._sse(events, ctx, usage, body.text is not None, started), media_type="text/event-stream"
            )
        results = [{"text": e.text, "flags": e.flags} async for e in events if isinstance(e, UnitDone)]
        self.metrics.observe_request(ctx.model, "translate", 200, time.perf_counter() - started)
        return JSONResponse(self._result(ctx, results, usage, body.text is not None))

    def _record_usage(self, ctx: Context, usage: Usage) -> None:
        self.metrics.observe_tokens(ctx.model, usage.prompt_tokens, usage.completion_tokens)
        self.limiter.charge_current(usage.prompt_tokens + usage.completion_tokens)  # the caller's tokens/minute

    def _result(self, ctx: Context, results: list[dict], usage: Usage, whole: bool) -> dict:
        self._record_usage(ctx, usage)
        use = protocol.usage(usage.prompt_tokens, usage.completion_tokens)
        text = results[0]["text"] if whole else None
        return protocol.translation_result(
            ctx.request_id, ctx.model, ctx.source, ctx.target, text, results, use, usage.cached
        )

    async def _sse(
        self, events: AsyncIterator[Event], ctx: Context, usage: Usage, whole: bool, started: float
    ) -> AsyncIterator[bytes]:
        results: list[dict] = []
        status = 200
        try:
            async for event in events:
                if isinstance(event, Delta) and event.text:
                    yield protocol.sse({"type": "delta", "segment": event.unit, "text": event.text})
                elif isinstance(event, UnitDone):
                    results.append({"text": event.text, "flags": event.flags})
                    yield protocol.sse(
                        {"type": "segment", "index": event.unit, "text": event.text, "flags": event.flags}
                    )
            yield protocol.sse({"type": "done", **self._result(ctx, results, usage, whole)})
        except Exception as exc:  # the 200 header is gone: report in the stream, OpenAI style
            err = to_client_error(exc)
            status = err.status_code
            self.metrics.observe_error(ctx.model, err.error_type)
            yield protocol.sse(err.to_body())
        finally:
            self.metrics.observe_request(ctx.model, "translate", status, time.perf_counter() - started)
        yield protocol.SSE_DONE

    async def translate_file(
        self,
        filename: str,
        data: bytes,
        target_lang: str,
        source_lang: str | None,
        model: str | None,
        glossary_json: str | None,
        max_units: int,
    ) -> Response:
        rid = "trf-" + uuid.uuid4().hex
        started = time.perf_counter()
        terms = glossary.parse(glossary_json)
        # Parsing and rebuilding a file is CPU work of its size: on the translator's threads.
        doc = await self.translator.pool.run(files.extract, filename, data, max_units)
        units = [(u.text, u.fmt) for u in doc.units]
        sample = "\n".join(u.text[:DETECT_CHARS] for u in doc.units[:50])
        ctx = self._context(rid, model, source_lang, target_lang, sample or filename, terms, 0.0)
        usage = Usage()
        translated: list[str] = []
        if units:
            pieces = await self.translator.prepare(units, "file")
            translated = [unit.text for unit in await self.translator.translate_all(pieces, len(units), ctx, usage)]
        output = await self.translator.pool.run(doc.rebuild, translated)
        self._record_usage(ctx, usage)
        self.metrics.observe_request(ctx.model, "translate_file", 200, time.perf_counter() - started)
        path = PurePath(filename)
        name = f"{path.stem}.{ctx.target}{path.suffix.lower()}"
        media = files.SUPPORTED[path.suffix.lower()]
        headers = {
            "content-disposition": f"attachment; filename=\"{_ascii(name)}\"; filename*=UTF-8''{_quote(name)}",
            "x-fanyi-source-lang": ctx.source,
            "x-fanyi-cached": str(usage.cached),
        }
        return Response(output, media_type=media, headers=headers)


def _language(code: str, param: str) -> str:
    try:
        return languages.normalize(code)
    except languages.UnknownLanguage as exc:
        exc.param = param
        raise


def _ascii(name: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
