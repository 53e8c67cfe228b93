"""A vLLM general plugin (entry point `vllm.general_plugins`), loaded by vLLM in every process it starts.

1. AMX permission: on CPUs with AMX, vLLM-CPU's bf16 attention kernel uses AMX tiles. Linux only
   lets a process use them after it asks (arch_prctl ARCH_REQ_XCOMP_PERM); standalone vLLM gets that
   by luck through oneDNN, but inside a Ray actor the first attention call dies with SIGILL.
   torch.cpu._init_amx() makes the request; it is a no-op on CPUs without AMX.
2. Die with the parent: vLLM runs its engine core and workers as child processes. When Ray kills a
   replica (scale-down, failure, `ray stop`), those children were seen to live on as orphans, still
   holding memory (on GPUs, the whole card). PR_SET_PDEATHSIG makes the kernel end them instead.
"""

import ctypes
import multiprocessing
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    # Only in processes vLLM spawned; the replica itself is supervised by Ray.
    if not sys.platform.startswith("linux") or multiprocessing.parent_process() is None:
        return
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def request_amx_permission() -> None:
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        return
    init_amx = getattr(torch.cpu, "_init_amx", None)
    if init_amx is not None:
        init_amx()


def register() -> None:
    """The entry point vLLM calls."""
    die_with_parent()
    request_amx_permission()
