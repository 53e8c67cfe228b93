# several engines in one process; round-robin timing (min/median) to resist noise from other load
import ast, os, sys, time, json, statistics
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
sys.path.insert(0, os.getcwd())  # run from the repository root
from app.prompts import plain_prompt
SENTS = ["今天天气很好，我们去公园散步吧。", "我明天要去北京开会。", "这本书非常有意思，我推荐你读一读。",
         "请问最近的地铁站在哪里？", "他昨天晚上工作到很晚。", "我们需要在周五之前完成这个项目。"]
def main():
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest
    base = dict(model="models/gemma-3-270m", dtype="bfloat16", max_model_len=2048)
    engines = ast.literal_eval(sys.argv[1])   # {name: extra LLM kwargs}
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    lora = LoRARequest("gemma-zh-en", 1, "adapters/gemma-zh-en")
    llms, series = {}, []
    for ename, extra in engines.items():
        kw = dict(base); kw.update(extra)
        llms[ename] = LLM(**kw)
        series.append((ename + "/base", ename, None))
        if kw.get("enable_lora"):
            series.append((ename + "/lora", ename, lora))
    sp = SamplingParams(max_tokens=40, temperature=0, ignore_eos=True)
    prompt = "Translate from Chinese to English.\nChinese: 今天天气很好，我们去公园散步吧。\nEnglish:"
    times = {s[0]: [] for s in series}
    for name, e, lr in series:
        llms[e].generate([prompt], sp, lora_request=lr, use_tqdm=False)
    for r in range(rounds):
        for name, e, lr in series:
            t = time.perf_counter(); llms[e].generate([prompt], sp, lora_request=lr, use_tqdm=False)
            times[name].append((time.perf_counter() - t) / 40 * 1000)
        print("round", r, {k: round(v[-1], 1) for k, v in times.items()}, "load", open("/proc/loadavg").read().split()[0], flush=True)
    for k, v in times.items():
        print(f"LAT {k}: min {min(v):.1f} median {statistics.median(v):.1f} ms/token", flush=True)
    if len(sys.argv) > 3:
        for name, e, lr in series:
            if sys.argv[3] != "all" and name not in sys.argv[3].split(","): continue
            for s in SENTS:
                p = plain_prompt(s, "zh", "en")
                spp = SamplingParams(max_tokens=64, temperature=0, stop=p.stop)
                ts = []
                for _ in range(3):
                    t = time.perf_counter(); o = llms[e].generate([p.text], spp, lora_request=lr, use_tqdm=False)[0]; ts.append(time.perf_counter() - t)
                out = o.outputs[0]
                print("GEN", name, json.dumps(dict(src=s, out=out.text, ntok=len(out.token_ids), ptok=len(o.prompt_token_ids), s_min=round(min(ts), 3)), ensure_ascii=False), flush=True)
if __name__ == "__main__":
    main()
