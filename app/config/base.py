"""What every config model shares: unknown keys are errors (a typo in the YAML names its field instead
of falling back to a default silently), and the shape of a served name."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

# A model or adapter id as clients send it in `model`.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
