#!/usr/bin/env bash
# Speed runs on the lent GPU (see docs/benchmarks.md): fanyi vs a bare `vllm serve`, same model, same
# engine arguments, one after the other on the same GPU.
#   cluster/gpu_check.sh raw ours ...   each word one system: `raw` is `vllm serve`, anything else is
#                                       fanyi from $PROFILE (default cluster/profiles/gpu-1x7b-dummy.yaml)
# Each system: start, wait for /health, the openai SDK check, then `app.bench` (completions, streaming,
# random 256-token prompts, exactly 256 output tokens) at each of $CONCURRENCY (default 1 8 64 256).
# The runs are merged into $OUT/results.json, table.md, throughput.png and ttft.png; each level also
# keeps its own files under $OUT/levels (more than the device returns: run it through gpu_bg.sh).
set -u
source cluster/gpu_env.sh
MODEL_DIR=models/qwen2.5-7b-shape
NAME=qwen2.5-7b-dummy
PORT=8000
python3 -m app.models.synthetic shape qwen2.5-7b --out "$MODEL_DIR" >/dev/null || exit 1
for system in "$@"; do
  start=$(date +%s)
  if [ "$system" = raw ]; then
    vllm serve "$MODEL_DIR" --served-model-name "$NAME" --load-format dummy --dtype bfloat16 \
      --max-model-len 4096 --gpu-memory-utilization 0.90 --port $PORT >"/tmp/server-$system.log" 2>&1 &
  else
    env $SERVE_ENV \
      serve run "${PROFILE:-cluster/profiles/gpu-1x7b-dummy.yaml}" >"/tmp/server-$system.log" 2>&1 &
  fi
  server=$!
  until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; do
    sleep 2
    if [ $(( $(date +%s) - start )) -gt 420 ] || ! kill -0 $server 2>/dev/null; then
      echo "$system: server not ready"; tail -30 "/tmp/server-$system.log"; continue 2
    fi
  done
  echo "$system ready after $(( $(date +%s) - start )) s" | tee -a "$OUT/versions.txt"
  python3 -m app.tools.client_check --base-url "http://127.0.0.1:$PORT/v1" --model "$NAME" 2>&1 | head -c 400; echo
  for c in ${CONCURRENCY:-1 8 64 256}; do
    n=$(requests_for $c)
    python3 -m app.bench --system "$system=http://127.0.0.1:$PORT/v1" --api completions --model "$NAME" \
      --random-input-len 256 --output-len 256 --concurrency $c --requests $n --warmup $(( c < 8 ? 2 : 8 )) \
      --no-progress --out "$OUT/levels/$system-c$c" 2>&1 | grep -E "tok/s" 
  done
  kill $server 2>/dev/null; [ "$system" = raw ] || ray stop --force >/dev/null 2>&1; wait 2>/dev/null
  sleep 3
done
python3 -m app.bench.merge --out "$OUT" "$OUT"/levels/*/results.json >/dev/null && cat "$OUT/table.md"
tail -c 3000 /tmp/server-*.log > "$OUT/server-logs.txt" 2>/dev/null
exit 0
