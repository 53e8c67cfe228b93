"""A minimal OpenAI-style streaming server on raw asyncio streams, for testing `app.bench` without a
model: HTTP/1.1 keep-alive, chunked SSE, `max_tokens` chunks of one token each, then usage and [DONE].
The model names `missing`, `stall`, `truncated` and `stream-error` make it fail in those ways; `silent`
streams tokens without text (special tokens), `nothing` reports no tokens either.
Cheap enough per chunk that it measures the client, not itself.

    python tests/unit/sse_server.py PORT [DELAY_S]    # serve until killed (overhead measurements)
"""

from __future__ import annotations

import asyncio
import json
import sys


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = json.loads(await reader.readexactly(length)) if length else {}
            path = head.split(b" ")[1]
            if body.get("model") == "missing":
                err = b'{"error":{"message":"no such model","type":"invalid_request_error","param":"model","code":"model_not_found"}}'
                writer.write(
                    b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                    % (len(err), err)
                )
                await writer.drain()
                continue
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            n = int(body.get("max_tokens", 16))
            chat = path.endswith(b"/chat/completions")
            model = body.get("model")
            if model == "stall":  # headers, then nothing: the client's read timeout must fire
                await writer.drain()
                await asyncio.sleep(30)
            for i in range(n):
                if delay:
                    await asyncio.sleep(delay)
                text = b"" if model in ("silent", "nothing") else b"w%d " % i
                if chat:
                    payload = (
                        b'{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"%s"}}]}'
                        % text
                    )
                else:
                    payload = b'{"id":"x","object":"text_completion","choices":[{"index":0,"text":"%s"}]}' % text
                writer.write(_chunk(b"data: " + payload + b"\n\n"))
                await writer.drain()
            if model == "truncated":  # the connection drops before [DONE]
                break
            if model == "stream-error":  # an OpenAI error inside the 200 stream, as fanyi sends one
                writer.write(
                    _chunk(b'data: {"error":{"message":"m","type":"internal_error","param":null,"code":null}}\n\n')
                )
            n = 0 if model == "nothing" else n
            use = {"prompt_tokens": 3, "completion_tokens": n, "total_tokens": n + 3}
            tail = b"data: " + json.dumps({"id": "x", "choices": [], "usage": use}).encode() + b"\n\ndata: [DONE]\n\n"
            writer.write(_chunk(tail) + b"0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def start(port: int = 0, delay: float = 0.0) -> asyncio.AbstractServer:
    return await asyncio.start_server(lambda r, w: _handle(r, w, delay), "127.0.0.1", port, backlog=1024)


async def _main(port: int, delay: float) -> None:
    server = await start(port, delay)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0))
