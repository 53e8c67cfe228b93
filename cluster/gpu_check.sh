#!/usr/bin/env bash
# GPU check and speed run, as used on the lent H100 (see docs/benchmarks.md).
#   cluster/gpu_check.sh ours   serve cluster/profiles/gpu-1x7b-dummy.yaml through fanyi (Ray Serve)
#   cluster/gpu_check.sh raw    the same model and engine args with a bare `vllm serve`
# Then: the openai SDK check (app.client_check) and `vllm bench serve` at CONCURRENCY (default
# "1 64"), random 256 in / 256 out. Results go to $OUT (default /tmp/out).
set -u
mode=${1:-ours}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
MODEL_DIR=models/qwen2.5-7b-shape
NAME=qwen2.5-7b-dummy
PORT=8000
python3 -m app.synthetic_models shape qwen2.5-7b --out "$MODEL_DIR" >/dev/null
{ python3 -c "import vllm, ray, torch; print('vllm', vllm.__version__, 'ray', ray.__version__, 'torch', torch.__version__)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; } >"$OUT/versions-$mode.txt" 2>&1
start=$(date +%s)
# Serve's throughput flags for the processes fanyi does not configure itself (proxy, controller).
export RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD=0 RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP=0
if [ "$mode" = raw ]; then
  vllm serve "$MODEL_DIR" --served-model-name "$NAME" --load-format dummy --dtype bfloat16 \
    --max-model-len 4096 --gpu-memory-utilization 0.90 --port $PORT >"$OUT/server-$mode.log" 2>&1 &
else
  serve run "${PROFILE:-cluster/profiles/gpu-1x7b-dummy.yaml}" >"$OUT/server-$mode.log" 2>&1 &
fi
server=$!
# Ready means the model answers: /health is 200 once every model has a healthy replica
# (bare vLLM has /health too).
until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; do
  sleep 2
  if [ $(( $(date +%s) - start )) -gt 420 ] || ! kill -0 $server 2>/dev/null; then
    echo "server not ready"; tail -40 "$OUT/server-$mode.log"; exit 1
  fi
done
echo "$mode ready after $(( $(date +%s) - start )) s" | tee -a "$OUT/versions-$mode.txt"
python3 -m app.client_check --base-url "http://127.0.0.1:$PORT/v1" --model "$NAME" >"$OUT/client-$mode.json" 2>&1
head -c 1500 "$OUT/client-$mode.json"; echo
for c in ${CONCURRENCY:-1 64 256}; do
  n=$(( c < 8 ? 16 : c * 3 ))
  vllm bench serve --backend openai-chat --endpoint /v1/chat/completions --base-url "http://127.0.0.1:$PORT" \
    --model "$NAME" --tokenizer "$MODEL_DIR" --dataset-name random --random-input-len 256 --random-output-len 256 \
    --num-prompts $n --max-concurrency $c --ignore-eos --percentile-metrics ttft,tpot,itl,e2el \
    --save-result --result-dir "$OUT" --result-filename "bench-$mode-c$c.json" 2>&1 \
    | grep -E "throughput|TTFT|TPOT|Successful|Failed" | sed "s/^/[$mode c=$c] /"
done
kill $server 2>/dev/null; ray stop --force >/dev/null 2>&1; wait 2>/dev/null
exit 0
