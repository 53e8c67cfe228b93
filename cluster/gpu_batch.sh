#!/usr/bin/env bash
# On the lent GPU: the batch job vs raw vLLM offline (issue 4), then transformers vs vLLM (issue 5),
# both on the Qwen2.5-7B shape with random weights. Figures land in $OUT.
set -u
source cluster/gpu_env.sh
D=/tmp/stage/data
M=models/qwen2.5-7b-shape
python3 -m app.models.synthetic shape qwen2.5-7b --out $M >/dev/null || exit 1
if [ "${SKIP_BATCH:-0}" != 1 ]; then
  timeout 420 python3 -m app.batch.bench --input $D/wmt21/newstest2021.zh-en.src.zh \
    --input $D/wmt23/generaltest2023.zh-en.src.zh --source zh --target en \
    --model-source $M --device cuda --dtype bfloat16 --max-model-len 4096 \
    --engine-args '{"load_format": "dummy", "gpu_memory_utilization": 0.9}' \
    --output-tokens 128 --block-rows 256 --shards-in-flight 4 --json "$OUT/batch_bench.json" \
    >"$OUT/batch_bench.log" 2>&1
  grep -v -E "INFO|WARNING|^\s*$" "$OUT/batch_bench.log" | tail -15
fi
if [ "${SKIP_ENGINES:-0}" != 1 ]; then
  timeout 300 python3 -m app.tools.engine_compare --model-source $M --device cuda --dtype bfloat16 \
    --engine-arg load_format=dummy --engine-arg gpu_memory_utilization=0.9 --concurrency 1,16,64 \
    --input-len 256 --output-len 256 --duration ${ENGINE_SECONDS:-25} --json "$OUT/engine_compare.json" \
    >"$OUT/engine_compare.log" 2>&1
  grep -E "^\|" "$OUT/engine_compare.log"
fi
exit 0
