"""app.tools.soak's judgement of answers and its request mix, without a server."""

import asyncio
import random

from app.tools.soak import MIX, Soak, SoakConfig, judge, slow_body


def test_expected_4xx_must_be_openai_shaped():
    shaped = {"error": {"message": "bad", "type": "invalid_request_error"}}
    assert judge("bad_json", 400, shaped) == "ok"
    assert judge("bad_json", 400, {"detail": "bad"}) == "unshaped_error"
    assert judge("unknown_model", 400, shaped) == "http_400:invalid_request_error"  # 404 was due


def test_server_errors_and_empty_answers_are_failures():
    assert judge("chat", 500, {"error": {"message": "x", "type": "internal_error"}}) == "http_500:internal_error"
    assert judge("chat", 200, {"choices": []}) == "bad_answer"
    assert judge("translate", 200, {"translations": [], "text": ""}) == "ok"


def test_every_kind_builds_a_request():
    soak, rng = Soak(SoakConfig(url="http://x", long_prompt_words=50)), random.Random(0)
    for kind in MIX:
        api, body = soak.body(kind, rng)
        assert api in ("chat", "translate")
        assert isinstance(body, bytes) == (kind == "bad_json")


def test_adversarial_mix_builds_attacks_and_bad_strings():
    soak, rng = Soak(SoakConfig(url="http://x", adversarial=True, attack_size=4096)), random.Random(1)
    assert set(soak.mix) == set(MIX) | {"attack", "bad_string"}
    assert set(Soak(SoakConfig(url="http://x")).mix) == set(MIX)
    seen = set()
    for _ in range(200):
        api, body = soak.body("attack", rng)
        assert api == "attack" and body.route.startswith("/v1/translate")
        seen.add(body.route)
        api, raw = soak.body("bad_string", rng)
        assert api in ("chat", "translate") and isinstance(raw, bytes)
    assert seen == {"/v1/translate", "/v1/translate/file"}  # both routes are attacked


def test_attack_answers_are_judged():
    shaped = {"error": {"message": "too many", "type": "invalid_request_error"}}
    mix = Soak(SoakConfig(url="http://x", adversarial=True)).mix
    assert judge("attack", 200, None, mix) == "ok"  # a translated file is not JSON
    assert judge("attack", 413, shaped, mix) == "ok"
    assert judge("attack", 500, shaped, mix).startswith("http_500")
    assert judge("bad_string", 400, shaped, mix) == "ok"
    assert judge("bad_string", 500, None, mix).startswith("http_500")


async def _serve_once(answer: bytes) -> tuple[asyncio.AbstractServer, str]:
    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        await reader.read(10)  # part of the body, never all of it
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def test_slow_body_wants_a_json_408():
    body = b'{"error": {"message": "body too slow", "type": "timeout_error", "code": "body_timeout"}}'
    json_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n\r\n" + body
    plain_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\n\r\nRequest Timeout"
    ok_200 = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{}"

    async def run(answer: bytes) -> str:
        server, url = await _serve_once(answer)
        async with server:
            return await slow_body(url, None, timeout=10)

    assert asyncio.run(run(json_408)) == "ok"
    assert asyncio.run(run(plain_408)) == "unshaped_error"
    assert asyncio.run(run(ok_200)).startswith("http_200")
