"""fanyi as a wheel, not a checkout: `pip wheel .` carries the web page and the cluster profiles, and the
installed package (`pip install --no-deps --target`, imported from there in a folder far from the
checkout) serves the page and translates, with relative model folders resolved from the config's folder.

The server runs outside Serve here (ServerState over in-process LocalHandles and the transformers
engine): what is tested is the package's contents and paths, which Serve would only wrap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

SERVE_FROM_WHEEL = r"""
import asyncio, json, sys
from pathlib import Path

import httpx

import app
from app.api.app import create_app
from app.api.server_state import ServerState
from app.config import load_config
from app.inprocess import LocalHandle
from deployments.hf_engine import TransformersEngine
from deployments.llm_replica import LLMReplica
from deployments.postprocess import PostProcessor

site = sys.argv[1]
config = load_config({"models": [{"name": "tiny", "source": "models/tiny", "device": "cpu",
                                  "engine": "transformers", "max_model_len": 512}]})
model = config.models[0].with_paths_from(Path.cwd())  # the folder this config sits in


async def main():
    replica = LLMReplica(model, TransformersEngine)
    await replica.start()
    state = ServerState.build(config, {"tiny": LocalHandle(replica)}, LocalHandle(PostProcessor()),
                              replica="wheel", status=lambda: {"tiny": "HEALTHY"})
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        page = await client.get("/")
        script = await client.get("/static/app.js")
        answer = await client.post("/v1/translate", json={"text": "Good morning.", "source_lang": "en",
                                                          "target_lang": "de"})
    await replica.close()
    print(json.dumps({"app": app.__file__, "source": model.source, "page": [page.status_code, page.text[:200]],
                      "script": script.status_code, "translate": [answer.status_code, answer.json()]}))


asyncio.run(main())
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        check=True,
        cwd=out,
        timeout=300,
    )
    [built] = out.glob("fanyi-*.whl")
    return built


def test_the_wheel_carries_the_page_and_the_profiles(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"app/static/index.html", "app/static/app.js", "app/static/style.css"} <= names
    assert "cluster/profiles/gpu-4x7b.yaml" in names and "deployments/router.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "fanyi = app.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_an_installed_wheel_serves_the_page_and_translates(wheel, tiny_model, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        timeout=300,
    )
    work = tmp_path / "elsewhere"
    (work / "models").mkdir(parents=True)
    (work / "models" / "tiny").symlink_to(tiny_model)
    # The installed copy comes first on the path; the checkout is neither the working folder nor on it.
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", SERVE_FROM_WHEEL, str(site)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["app"].startswith(str(site)), seen["app"]  # not the checkout
    assert seen["source"] == str((work / "models" / "tiny").resolve())
    status, page = seen["page"]
    assert status == 200 and "<title" in page and seen["script"] == 200
    status, body = seen["translate"]
    assert status == 200 and body["translations"][0]["text"], body
