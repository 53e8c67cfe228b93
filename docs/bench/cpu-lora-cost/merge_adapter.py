# Merge adapters/gemma-zh-en into the base weights (fp32 merge, one cast to bf16), for lora_latency.py.
import torch, shutil, os
from transformers import AutoModelForCausalLM
from peft import PeftModel
base = AutoModelForCausalLM.from_pretrained("models/gemma-3-270m", dtype=torch.float32)
m = PeftModel.from_pretrained(base, "adapters/gemma-zh-en")
m = m.merge_and_unload()          # merge in fp32, then cast once to bf16
m = m.to(torch.bfloat16)
m.config.dtype = "bfloat16"
m.save_pretrained("/tmp/lp/merged", safe_serialization=True)
for f in ["tokenizer.json", "tokenizer_config.json", "generation_config.json"]:
    shutil.copy(os.path.join("models/gemma-3-270m", f), "/tmp/lp/merged/")
print(os.listdir("/tmp/lp/merged"))
