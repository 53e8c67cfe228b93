#!/usr/bin/env bash
# Jobs that outlive one device call (each call is cut at 10 minutes; a machine stays lent across calls
# sent back to back, and a process in its own session keeps running between them):
#   cluster/gpu_bg.sh start NAME 'COMMAND'   run COMMAND in a new session; $OUT is /tmp/jobs/NAME/out
#   cluster/gpu_bg.sh wait SECONDS NAME...   until every NAME has ended or SECONDS have passed, then
#                                            pack each one's log and out/ into $OUT/NAME.tar (the
#                                            device returns at most 8 files, so one per job)
# Two jobs on one 2-GPU host each set CUDA_VISIBLE_DEVICES in COMMAND.
set -u
JOBS=/tmp/jobs
case ${1:-} in
  start)
    name=$2 dir=$JOBS/$2
    mkdir -p "$dir/out" && rm -f "$dir/rc"
    OUT=$dir/out setsid bash -c "$3; echo \$? >'$dir/rc'" >"$dir/log" 2>&1 </dev/null &
    echo "started $name (pid $!)"
    ;;
  wait)
    limit=$2; shift 2; start=$(date +%s)
    for name in "$@"; do
      while [ ! -e "$JOBS/$name/rc" ] && [ $(( $(date +%s) - start )) -lt "$limit" ]; do sleep 2; done
    done
    for name in "$@"; do
      dir=$JOBS/$name
      if [ -e "$dir/rc" ]; then echo "$name ended, rc $(cat "$dir/rc")"; else echo "$name still running"; fi
      # Short on purpose: the machine goes back ~30 s after a call, so the reply must be quick to read.
      tail -c 4000 "$dir/log" | tr '\r' '\n' | grep -v -E "it/s\]|s/it\]|step/s" | tail -n 12
      tar cf "${OUT:-/tmp/out}/$name.tar" -C "$dir" log out
    done
    ;;
  *) echo "usage: gpu_bg.sh start NAME 'COMMAND' | wait SECONDS NAME..." >&2; exit 2 ;;
esac
