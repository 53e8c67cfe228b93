#!/usr/bin/env bash
# Scaling runs on a lent 2-GPU host (see docs/benchmarks.md), every change made from the config alone:
#   cluster/gpu_scaling.sh replicas   one replica (TP=1), then `serve deploy` of the same config with
#                                     2 replicas: Serve adds the second replica in place on GPU 1
#   cluster/gpu_scaling.sh two        two replicas (TP=1) from a fresh start
#   cluster/gpu_scaling.sh tp2        one replica over both GPUs (tensor_parallel_size 2)
# Steps run in the order given; STEP:64,512 sets that step's concurrency levels.
# Each configuration runs `app.bench` (completions, streaming, random 256-token prompts, exactly 256
# output tokens) at each of $CONCURRENCY (default 64 256 512); results are merged into $OUT, and each
# level keeps its own files under $OUT/levels (more than the device returns: run it through gpu_bg.sh).
# The client's CPU share is printed next to each level: near 100% would mean the load generator,
# not the server, set the figure.
set -u
source cluster/gpu_env.sh
PROFILE_2X=cluster/profiles/gpu-2x7b-dummy.yaml
PROFILE_TP2=cluster/profiles/gpu-1x7b-tp2-dummy.yaml
DEPLOYMENT="LLM:qwen2.5-7b-dummy"
NAME=qwen2.5-7b-dummy
URL=http://127.0.0.1:8000/v1
python3 -m app.models.synthetic shape qwen2.5-7b --out models/qwen2.5-7b-shape >/dev/null || exit 1
# Serve's flags ($SERVE_ENV, cluster/gpu_env.sh) reach the proxy and controller through the raylet's
# environment, so they are set before `ray start`.
export $SERVE_ENV

wait_running() {  # REPLICAS [SECONDS]: until the app is RUNNING with that many LLM replicas
  python3 - "$1" "$DEPLOYMENT" "${2:-480}" <<'PY'
import glob, os, sys, time
import ray
from ray import serve
want, deployment, limit, start = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), time.monotonic()
ray.init(address="auto", log_to_driver=False, logging_level="ERROR")


def logs() -> list[str]:
    return glob.glob("/tmp/ray/session_latest/logs/*.err") + glob.glob("/tmp/ray/session_latest/logs/serve/*.log")


seen = {path: os.path.getsize(path) for path in logs()}  # bytes read so far: earlier deployments' errors are skipped


def crashed() -> bool:  # a dead CUDA context never recovers, but the replica can sit in STARTING
    for path in logs():
        with open(path, "rb") as f:
            f.seek(seen.get(path, 0))
            new = f.read()
        seen[path] = seen.get(path, 0) + len(new)
        if b"illegal memory access" in new:
            print("illegal memory access in", path)
            return True
    return False


while time.monotonic() - start < limit and not crashed():
    app = serve.status().applications.get("fanyi")
    if app is not None:
        running = app.deployments.get(deployment)
        running = running.replica_states.get("RUNNING", 0) if running else 0
        if str(app.status).endswith("RUNNING") and running == want:
            print(f"{want} replica(s) running after {time.monotonic() - start:.0f} s", flush=True)
            sys.exit(0)
        if str(app.status).endswith("DEPLOY_FAILED"):  # Serve gave up retrying the constructor
            break
    time.sleep(5)
print("not running:", serve.status().applications.get("fanyi"))
sys.exit(1)
PY
}

deploy() {  # PROFILE REPLICAS WHAT [SECONDS]: serve deploy, wait for the replicas, log how long it took
  local start=$(date +%s)
  serve deploy "$1" && wait_running "$2" "${4:-480}" || return 1
  echo "$3 after $(( $(date +%s) - start )) s" | tee -a "$OUT/versions.txt"
}

sweep() {  # SYSTEM LEVELS
  local c n
  for c in $2; do
    n=$(requests_for $c)
    TIMEFORMAT="  client CPU %P%% over %R s"
    time python3 -m app.bench --system "$1=$URL" --api completions --model "$NAME" \
      --random-input-len 256 --output-len 256 --concurrency $c --requests $n --warmup 8 \
      --no-progress --out "$OUT/levels/$1-c$c" 2>&1 | grep -E "tok/s"
  done
}

# Ray's token authentication: every port of this cluster asks for the token in ~/.ray/auth_token
# (made once); `ray start`, `serve deploy` and `ray.init` here read it, as RAY_AUTH_MODE says.
export RAY_AUTH_MODE=token
ray get-auth-token --generate >/dev/null 2>&1 || { echo "no Ray auth token"; exit 1; }
ray start --head --num-gpus 2 --disable-usage-stats >/tmp/ray-start.log 2>&1 || { cat /tmp/ray-start.log; exit 1; }
for arg in "$@"; do  # STEP or STEP:C1,C2,... (concurrency levels for this step only)
  step=${arg%%:*}; levels=${CONCURRENCY:-64 256 512}
  [ "$step" != "$arg" ] && levels=${arg#*:} && levels=${levels//,/ }
  case $step in
    replicas)
      sed "s/num_replicas: 2/num_replicas: 1/" "$PROFILE_2X" >/tmp/one-replica.yaml  # the edit a user makes
      deploy /tmp/one-replica.yaml 1 "1 replica ready" || break
      python3 -m app.tools.client_check --base-url "$URL" --model "$NAME" 2>&1 | head -c 300; echo
      sweep tp1-1-replica "$levels"
      deploy "$PROFILE_2X" 2 "scaled to 2 replicas" || break
      sweep tp1-2-replicas "$levels"
      ;;
    two)  # two replicas from a fresh start
      serve shutdown -y >/dev/null 2>&1; sleep 5
      deploy "$PROFILE_2X" 2 "2 replicas ready" || break
      sweep tp1-2-replicas "$levels"
      ;;
    tp2)  # compiled first; if that replica never comes up, the same profile with enforce_eager
      serve shutdown -y >/dev/null 2>&1; sleep 5
      if ! deploy "$PROFILE_TP2" 1 "TP=2 replica ready" 360; then
        echo "TP=2 compiled failed; retrying with enforce_eager" | tee -a "$OUT/versions.txt"
        grep -h -B2 -A8 -m3 -E "Error|error:" /tmp/ray/session_latest/logs/serve/replica_*.log \
          /tmp/ray/session_latest/logs/worker-*.err 2>/dev/null | tail -c 8000 >"$OUT/tp2-compiled-error.txt"
        serve shutdown -y >/dev/null 2>&1; sleep 5
        sed "s/^          engine_args:/          engine_args:\n            enforce_eager: true/" "$PROFILE_TP2" >/tmp/tp2-eager.yaml
        deploy /tmp/tp2-eager.yaml 1 "TP=2 replica (eager) ready" 300 || break
      fi
      sweep tp2-1-replica "$levels"
      ;;
  esac
done
nvidia-smi --query-gpu=index,memory.used --format=csv,noheader | tee -a "$OUT/versions.txt"
python3 -m app.bench.merge --out "$OUT" "$OUT"/levels/*/results.json >/dev/null && cat "$OUT/table.md"
tail -c 30000 /tmp/ray/session_latest/logs/serve/controller_*.log >"$OUT/controller-log.txt" 2>/dev/null
ray stop --force >/dev/null 2>&1
exit 0
