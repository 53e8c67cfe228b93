"""`fanyi`: the project's command line, one subcommand per tool, beside the `python -m` forms.

    fanyi serve [serve_config.yaml]     run the service in the foreground (what `make serve` runs)
    fanyi batch --input ... --output ... --target en      python -m app.batch
    fanyi eval --base-url ... --src ... --ref ...         python -m app.tools.eval
    fanyi finetune --base ... --train SRC REF ...         python -m app.finetune
    fanyi bench --system ours=URL ...                     python -m app.bench
    fanyi soak --url URL                                  python -m app.tools.soak
    fanyi check --base-url URL/v1                         python -m app.tools.client_check
    fanyi models prepare-default --out DIR                python -m app.models

Each subcommand imports its tool only when called, so `fanyi --help` is instant and the batch job's
Ray Data or fine-tuning's torch load only for the command that needs them.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

# subcommand -> "module:function" taking argv and returning an exit status
COMMANDS = {
    "serve": "app.cli:serve",
    "batch": "app.batch.cli:main",
    "eval": "app.tools.eval:main",
    "finetune": "app.finetune.loop:main",
    "bench": "app.bench.cli:main",
    "soak": "app.tools.soak:main",
    "check": "app.tools.client_check:main",
    "models": "app.models.default:main",
}


def serve(argv: list[str]) -> int:
    """`fanyi serve [CONFIG]`: what `make serve` runs (cluster/loopback.py: Ray on 127.0.0.1 only),
    started in the config's folder, so relative model and adapter folders start at the config file."""
    if len(argv) > 1 or argv[:1] in (["-h"], ["--help"]):
        print("usage: fanyi serve [SERVE_CONFIG.yaml]   (default: ./serve_config.yaml)")
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    config = Path(argv[0] if argv else "serve_config.yaml").resolve()
    if not config.is_file():
        print(f"fanyi serve: no such config file: {config}", file=sys.stderr)
        return 2
    from cluster.loopback import main as serve_loopback

    os.chdir(config.parent)
    serve_loopback([config.name])  # replaces this process with `serve run`
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__.strip())
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nfanyi: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    module, function = COMMANDS[argv[0]].split(":")
    sys.argv = [f"fanyi {argv[0]}", *argv[1:]]  # argparse shows "usage: fanyi batch ..."
    return getattr(importlib.import_module(module), function)(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
