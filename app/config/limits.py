"""Request limits (`args.limits`): sizes, segment and token caps, deadlines, the translation memory."""

from __future__ import annotations

from pydantic import Field, model_validator

from app.config.base import Strict


class LimitsConfig(Strict):
    max_request_bytes: int = Field(1 << 20, ge=1024, description="Largest accepted JSON request body.")
    max_file_bytes: int = Field(10 << 20, ge=1024, description="Largest accepted upload for file translation.")
    max_file_units: int = Field(5000, ge=1, description="Most paragraphs/cues one uploaded file may hold.")
    max_tokens_cap: int | None = Field(None, ge=1, description="Upper bound on max_tokens for any request.")
    max_segments: int = Field(2000, ge=1, description="Most segments one translation request may be split into.")
    request_timeout_s: float | None = Field(
        600.0,
        gt=0,
        description="Time to the first byte of an answer before the router gives up with 504 "
        "(keep it below http_options.request_timeout_s, whose 408 is plain text).",
    )
    translation_memory_entries: int = Field(
        100_000, ge=0, description="Translated segments each router replica remembers (0: no memory)."
    )
    body_read_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Time a client has to send its whole request body (a chunked body that never "
        "ends, a Content-Length larger than what arrives) before the router answers 408 and closes the "
        "connection. 60 s lets a 10 MiB upload through at 1.4 Mbit/s.",
    )
    max_request_duration_s: float = Field(
        900.0,
        gt=0,
        description="Longest any request lives, body and streamed answer included, whatever its "
        "`x-request-timeout-seconds` header asks Serve for: past it the router cancels the request (504 before "
        "the answer started, an error event ending a stream after). Keep http_options.request_timeout_s above it.",
    )

    @model_validator(mode="after")
    def _deadlines(self) -> LimitsConfig:
        if self.request_timeout_s is not None and self.request_timeout_s > self.max_request_duration_s:
            raise ValueError(
                f"request_timeout_s ({self.request_timeout_s:g}) exceeds max_request_duration_s "
                f"({self.max_request_duration_s:g})"
            )
        return self
