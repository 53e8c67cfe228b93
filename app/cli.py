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
import sys

# subcommand -> "module:function" taking argv and returning an exit status
COMMANDS = {
    "serve": "app.local_serve:main",
    "batch": "app.batch.cli:main",
    "eval": "app.tools.eval:main",
    "finetune": "app.finetune.loop:main",
    "bench": "app.bench.cli:main",
    "soak": "app.tools.soak:main",
    "check": "app.tools.client_check:main",
    "models": "app.models.default:main",
}


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
