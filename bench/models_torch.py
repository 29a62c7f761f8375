"""The PyTorch side of the models benchmark: the same training step as bench/models.ts, written
as idiomatic PyTorch user code, on the reference implementations finetune's models follow.

    python3 bench/models_torch.py --threads N --serve     the models protocol of bench/shared.ts
    python3 bench/models_torch.py --threads N --setup '{"model": "bert-base", "batch": 8, "seqLen": 128,
        "numLabels": 2, "warmupSteps": 2, "seed": 0}' [--steps N]      one model alone: a JSON summary

bench/compare-models.ts (`compare.js --suite models`) runs it with PYTHONPATH pointing at the
PyTorch wheel whose libtorch the addon links plus the reference stack of tools/setup-pyref.sh
(transformers 5.17, torchvision 0.28). The driver sends each model's sizes with `setup`.

Models, randomly initialised, float32, train mode:
  bert-base  transformers BertForSequenceClassification(BertConfig(num_labels=2)), attn_implementation="sdpa"
  vit-b16    transformers ViTForImageClassification(ViTConfig(num_labels=1000)) (google/vit-base-patch16-224's
             shape), attn_implementation="sdpa": the layout finetune's ViT follows (separate q/k/v Linears, SDPA)
  resnet50   torchvision.models.resnet50()
  alexnet    torchvision.models.alexnet()
  bert-base-lora  bert-base as above wrapped by peft's get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=8,
             lora_alpha=32, target_modules=["query", "value"])) (peft 0.21)
  demo-vit   the demo's ViT: transformers ViTForImageClassification(ViTConfig(**DEMO_VIT)): 28 px, 1 channel,
             patch 4, hidden 64, 4 layers (the config comes with the setup request, from bench/shared.ts)
  demo-cnn   the demo's alexnet-small: torch.nn.Sequential of DEMO_CNN (bench/shared.ts, sent with the setup request)
Only the library a model needs is imported (transformers, peft or torchvision), as a user script would.
"""
import argparse
import json
import os
import platform
import resource
import sys
import time
import types

import torch
import torch.nn.functional as F
from serve import serve  # noqa: E402  bench/serve.py, beside this script


def memory():
    """VmRSS and VmHWM (peak resident set) of this process, in kB."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return {"rssKb": values["VmRSS"], "hwmKb": values["VmHWM"]}


# The local torchvision wheels are CUDA builds whose C++ ops cannot load next to the CPU torch;
# torchvision.models needs none of them, so their registrations are skipped (as in tools/pyref.py).
# transformers imports torchvision too (its image utilities), so this comes before either.
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))


def import_torchvision():
    import torchvision

    return torchvision


def sequential_of(layers):
    """DEMO_CNN of bench/shared.ts as an nn.Sequential, torchvision AlexNet's layer types (in-place ReLU)."""
    nn = torch.nn
    make = {
        "conv": lambda cin, cout, k, stride, pad: nn.Conv2d(cin, cout, k, stride=stride, padding=pad),
        "relu": lambda: nn.ReLU(inplace=True),
        "maxpool": lambda k, stride: nn.MaxPool2d(k, stride),
        "avgpool": lambda side: nn.AdaptiveAvgPool2d((side, side)),
        "flatten": lambda: nn.Flatten(1),
        "dropout": lambda p: nn.Dropout(p),
        "linear": lambda fin, fout: nn.Linear(fin, fout),
    }
    return nn.Sequential(*(make[kind](*args) for kind, *args in layers))


def build(request):
    """The randomly initialised model, in train mode, a forward returning logits, and the batch."""
    name, batch, num_labels = request["model"], request["batch"], request["numLabels"]
    torch.manual_seed(request["seed"])
    if name == "bert-base":
        from transformers import BertConfig, BertForSequenceClassification

        model = BertForSequenceClassification(BertConfig(num_labels=num_labels, attn_implementation="sdpa"))
        inputs = torch.randint(0, model.config.vocab_size, (batch, request["seqLen"]))
        labels = torch.randint(0, num_labels, (batch,))
        return model, lambda: model(input_ids=inputs).logits, inputs, labels
    if name == "bert-base-lora":
        from peft import LoraConfig, get_peft_model
        from transformers import BertConfig, BertForSequenceClassification

        bert = BertForSequenceClassification(BertConfig(num_labels=num_labels, attn_implementation="sdpa"))
        model = get_peft_model(bert, LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=32, target_modules=["query", "value"]))
        inputs = torch.randint(0, bert.config.vocab_size, (batch, request["seqLen"]))
        labels = torch.randint(0, num_labels, (batch,))
        return model, lambda: model(input_ids=inputs).logits, inputs, labels
    if name == "demo-vit":
        from transformers import ViTConfig, ViTForImageClassification

        config = {k: v for k, v in request["modelConfig"].items() if k not in ("model_type", "architectures")}
        model = ViTForImageClassification(ViTConfig(**config, attn_implementation="sdpa"))
        inputs = torch.randn(batch, request.get("channels", 3), request["imageSize"], request["imageSize"])
        labels = torch.randint(0, num_labels, (batch,))
        return model, lambda: model(pixel_values=inputs).logits, inputs, labels
    if name == "demo-cnn":
        model = sequential_of(request["modelConfig"])
        inputs = torch.randn(batch, request.get("channels", 3), request["imageSize"], request["imageSize"])
        labels = torch.randint(0, num_labels, (batch,))
        return model, lambda: model(inputs), inputs, labels
    if name == "vit-b16":
        from transformers import ViTConfig, ViTForImageClassification

        model = ViTForImageClassification(ViTConfig(num_labels=num_labels, attn_implementation="sdpa"))
        inputs = torch.randn(batch, 3, request["imageSize"], request["imageSize"])
        labels = torch.randint(0, num_labels, (batch,))
        return model, lambda: model(pixel_values=inputs).logits, inputs, labels
    if name in ("resnet50", "alexnet"):
        torchvision = import_torchvision()
        model = getattr(torchvision.models, name)(num_classes=num_labels)
        inputs = torch.randn(batch, 3, request["imageSize"], request["imageSize"])
        labels = torch.randint(0, num_labels, (batch,))
        return model, lambda: model(inputs), inputs, labels
    raise ValueError(f"unknown model {name}")


workload = None


def train_step(w):
    """One training step as a user writes it: forward, loss, backward, grads reset (set to None)."""
    model, forward, labels = w
    loss = F.cross_entropy(forward(), labels)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return loss


def timed_steps(w, steps):
    step_ms = []
    for _ in range(steps):
        start = time.perf_counter_ns()
        train_step(w)
        step_ms.append((time.perf_counter_ns() - start) / 1e6)
    return step_ms


def steps_reply(w, steps):
    """`steps` timed steps, with diagnostics of how they used memory: the minor page faults they
    took and the kernel (system) CPU seconds they used, which fresh pages cost."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    step_ms = timed_steps(w, steps)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"stepMs": step_ms, "minorFaults": after.ru_minflt - before.ru_minflt, "systemSeconds": after.ru_stime - before.ru_stime}


def setup(request):
    global workload
    if workload is not None:
        raise RuntimeError("setup: this process already holds a model (one model per process)")
    start = time.perf_counter_ns()
    model, forward, inputs, labels = build(request)
    model.train()
    setup_ms = (time.perf_counter_ns() - start) / 1e6
    workload = (model, forward, labels)
    params = list(model.parameters())

    start = time.perf_counter_ns()
    first = train_step(workload)
    warmup_ms = [(time.perf_counter_ns() - start) / 1e6]
    first_loss = first.item()
    del first
    warmup_ms += timed_steps(workload, request["warmupSteps"] - 1)
    return {
        "model": request["model"],
        "batch": request["batch"],
        "inputShape": list(inputs.shape),
        "numLabels": request["numLabels"],
        "params": sum(p.numel() for p in params),
        "paramTensors": len(params),
        "firstLoss": first_loss,
        "setupMs": setup_ms,
        "warmupMs": warmup_ms,
        **memory(),
    }


def info():
    return {
        "engine": "pytorch",
        "runtime": f"python {platform.python_version()}",
        "torchVersion": torch.__version__.split("+")[0],
        "threads": torch.get_num_threads(),
        **memory(),
    }


def handle(line):
    command, _, rest = line.partition(" ")
    if command == "info":
        return info()
    if command == "setup":
        return setup(json.loads(rest))
    if command == "steps":
        if workload is None:
            raise RuntimeError("steps before setup")
        return steps_reply(workload, int(rest))
    if command == "memory":
        return memory()
    raise ValueError(f"unknown command {line}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--setup", help="one model alone: a setup request (JSON, as the driver sends), e.g. for a profiler")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.serve:
        serve(handle)
    elif args.setup:
        before = info()
        setup_reply = setup(json.loads(args.setup))
        steps = steps_reply(workload, args.steps)
        print(json.dumps({**before, "setup": setup_reply, **steps, "memory": memory()}))
    else:
        parser.error("give --serve (the driver is bench/compare-models.ts) or --setup JSON")


if __name__ == "__main__":
    main()
