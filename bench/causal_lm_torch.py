"""PyTorch side of bench/causal-lm.ts: one measurement of transformers' GPT2LMHeadModel (random init):
a LoRA training step (peft, r 8 on c_attn, AdamW, forward + backward + step; median ms, and median CPU ms
over all threads) or greedy
generate() with the KV cache at batch 1 (median new tokens/s); prints JSON with the peak RSS."""
import argparse
import json
import resource
import statistics
import sys
import time
import types

# The local torchvision wheels cannot load next to the CPU torch (as in bench/models_torch.py).
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

SHAPES = {"gpt2": {"n_layer": 12}, "distilgpt2": {"n_layer": 6}}

parser = argparse.ArgumentParser()
for flag in ("--threads", "--steps", "--batch", "--seq", "--prompt", "--new-tokens"):
    parser.add_argument(flag, type=int, default=0)
parser.add_argument("--model", choices=SHAPES, required=True)
parser.add_argument("--task", choices=("train", "generate"), required=True)
args = parser.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(0)
config = GPT2Config(**SHAPES[args.model])
model = GPT2LMHeadModel(config)
if args.task == "train":
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=32, target_modules=["c_attn"]))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, config.vocab_size, (args.batch, args.seq))
    times, cpu_times = [], []
    for step in range(args.steps + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step > 0:
            times.append((time.perf_counter() - start) * 1000)
            cpu_times.append((time.process_time() - cpu_start) * 1000)
    value = statistics.median(times)
    extra = {"cpuMs": statistics.median(cpu_times)}
else:
    extra = {}
    model.eval()
    ids = torch.randint(0, config.vocab_size, (1, args.prompt))
    mask = torch.ones_like(ids)

    def run():
        # min_new_tokens = max_new_tokens: no end token stops a run early, as on the finetune side.
        with torch.no_grad():
            model.generate(
                ids,
                attention_mask=mask,
                do_sample=False,
                max_new_tokens=args.new_tokens,
                min_new_tokens=args.new_tokens,
                pad_token_id=config.eos_token_id,
            )

    run()
    speeds = []
    for _ in range(args.steps):
        start = time.perf_counter()
        run()
        speeds.append(args.new_tokens / (time.perf_counter() - start))
    value = statistics.median(speeds)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"value": value, "peakRssMiB": peak, **extra}))
