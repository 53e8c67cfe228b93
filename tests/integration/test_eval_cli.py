"""`python -m app.tools.eval` against the running CPU service, on a few real WMT21 lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.tools import eval as evaluation

pytestmark = pytest.mark.integration

WMT21 = Path(__file__).resolve().parents[3] / "shared" / "data" / "wmt21"


@pytest.mark.skipif(not WMT21.is_dir(), reason="shared/data is not beside the checkout")
@pytest.mark.parametrize("api", ["fanyi", "openai-chat"])
def test_eval_scores_a_few_lines(base_url, tmp_path, capsys, api):
    out = tmp_path / "scores.json"
    code = evaluation.main(
        [
            "--base-url",
            base_url,
            "--api",
            api,
            "--model",
            "tiny",
            "--limit",
            "4",
            "--json",
            str(out),
            "--src",
            str(WMT21 / "newstest2021.en-zh.src.en"),
            "--ref",
            str(WMT21 / "newstest2021.en-zh.ref.A.zh"),
            "--source",
            "en",
            "--target",
            "zh",
        ]
    )
    assert code == 0
    [row] = json.loads(out.read_text())
    assert row["segments"] == 4 and row["pair"] == "en-zh" and 0 <= row["chrf"] <= 100
    assert f"| tiny ({api}) | en-zh | 4 |" in capsys.readouterr().out
