# Sourced by the cluster/gpu_*.sh scripts on the lent GPU host (no package index there): installs the
# wheelhouse staged under /tmp/stage (see cluster/README.md) once per machine, then sets the paths.
if [ ! -d /tmp/site/vllm ]; then
  cat /tmp/stage/part* >/tmp/a.tar && mkdir -p /tmp/w && tar xf /tmp/a.tar -C /tmp/w \
    && python3 -m pip install -q --no-index --no-deps --target /tmp/site /tmp/w/*.whl $(ls /tmp/stage/*.whl 2>/dev/null) \
    || { echo "wheelhouse install failed"; exit 1; }
fi
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
# The host keeps NVLink multicast off; keep it off in everything started from here too.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
# Serve's own flags for the processes fanyi does not configure (proxy, controller), read when Ray
# starts: its high-throughput bundle and HAProxy in place of the Python proxy, which saturated one core
# at ~100 streaming requests/s (docs/benchmarks.md, 2026-11-27). HAProxy asks for 2.5 file descriptors
# per connection it may hold; 6000 fits a 20000 limit.
# cluster/haproxy_edge.py adds the header timeout and JSON 408 Serve cannot configure (docs/operations.md).
export SERVE_ENV=${SERVE_ENV:-RAY_SERVE_THROUGHPUT_OPTIMIZED=1 RAY_SERVE_ENABLE_HA_PROXY=1 RAY_SERVE_HAPROXY_MAXCONN=6000 RAY_SERVE_HAPROXY_BINARY_PATH=$PWD/cluster/haproxy_edge.py}
python3 -c "import vllm, ray, torch, transformers, peft; print('vllm', vllm.__version__, 'ray', ray.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)" 2>/dev/null | tee "$OUT/versions.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$OUT/versions.txt"

requests_for() {  # CONCURRENCY -> requests per benchmark level: 3 waves, 2 from 512 up (time-boxed calls)
  local c=$1
  if [ "$c" -lt 8 ]; then echo 16; elif [ "$c" -ge 512 ]; then echo $(( c * 2 )); else echo $(( c * 3 )); fi
}
