#!/usr/bin/env bash
# Fine-tune the embedded default (Gemma 3 270M) for zh<->en on the lent GPU, then score it on WMT21.
#   cluster/gpu_finetune.sh [MINUTES_A] [MINUTES_B]
# Needs the wheelhouse and the Gemma chunk wheels in /tmp/stage and the parallel data in /tmp/stage/data
# (see docs/benchmarks.md). Adapter A trains on the plain prompt, B on the service's few-shot prompt;
# each comes back as a tar in $OUT with its fanyi-adapter.json, and eval-*.json hold the WMT21 scores.
set -u
source cluster/gpu_env.sh
D=/tmp/stage/data
python3 -m app.models prepare-default --out models/gemma-3-270m || exit 1
train() {  # NAME STYLE MINUTES [extra finetune args]
  local name=$1 style=$2 minutes=$3; shift 3
  python3 -m app.finetune --base models/gemma-3-270m --source zh --target en --both-directions \
    --train $D/tatoeba/tatoeba.en-zh.zh $D/tatoeba/tatoeba.en-zh.en \
    --train $D/wmt23/generaltest2023.zh-en.src.zh $D/wmt23/generaltest2023.zh-en.ref.A.en \
    --train $D/wmt23/generaltest2023.en-zh.ref.A.zh $D/wmt23/generaltest2023.en-zh.src.en \
    --dev $D/wmt21/newstest2021.zh-en.src.zh $D/wmt21/newstest2021.zh-en.ref.A.en \
    --prompt-style "$style" --quantization none --rank 32 --alpha 64 --learning-rate 1e-3 --epochs 3 \
    --batch-size 64 --no-gradient-checkpointing --eval-every 300 --max-minutes "$minutes" \
    --out "adapters/$name" "$@" 2>&1 | grep -v -E "^\s*$|it/s\]$" | tail -25
  tar cf "$OUT/$name.tar" -C adapters "$name"
}
score() {  # PAIR SRC REF ADAPTERS...
  local pair=$1 src=$2 ref=$3; shift 3
  local args=(); for a in "$@"; do args+=(--adapter "$a"); done
  python3 -m app.eval --engine vllm --model-source models/gemma-3-270m --prompt-style few_shot "${args[@]}" \
    --src "$src" --ref "$ref" --source "${pair%-*}" --target "${pair#*-}" --json "$OUT/eval-$pair.json" \
    --hyps "$OUT/hyps-$pair.json" 2>&1 | grep -E "^\|"
}
# A: the built-in before/after evaluation (base with its few-shot prompt vs the adapter) on WMT21 zh-en.
train gemma-zh-en "plain" "${1:-3}" --eval-engine vllm
[ -n "${2:-}" ] && train gemma-zh-en-fewshot "few_shot" "$2" --eval-engine none
adapters=("gemma-zh-en=adapters/gemma-zh-en:plain")
[ -d adapters/gemma-zh-en-fewshot ] && adapters+=("gemma-zh-en-fewshot=adapters/gemma-zh-en-fewshot:few_shot")
score en-zh $D/wmt21/newstest2021.en-zh.src.en $D/wmt21/newstest2021.en-zh.ref.A.zh "${adapters[@]}"
[ ${#adapters[@]} -gt 1 ] && score zh-en $D/wmt21/newstest2021.zh-en.src.zh $D/wmt21/newstest2021.zh-en.ref.A.en "${adapters[@]}"
exit 0
