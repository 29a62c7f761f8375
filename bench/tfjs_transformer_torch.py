"""PyTorch eager on the TensorFlow.js suite's small-transformer step: a reference for how fast that
step can be on this libtorch, so that finetune's ratio to TF.js can be read against it.

    eval "$(bash tools/setup-pyref.sh)" && python3 bench/tfjs_transformer_torch.py [--threads 2] [--steps 40]

The step is bench/tfjs-finetune.ts's, op for op (F.linear, F.scaled_dot_product_attention,
F.layer_norm, exact GELU, cross entropy; backward; grads set to None), at bench/tfjs-shared.ts's
sizes. The weights are drawn here with torch's generator, not the shared one: the timing does not
depend on the values, and the TF.js suite's loss check is not this script's job. Prints a JSON line.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

# bench/tfjs-shared.ts TRANSFORMER
BATCH, SEQ_LEN, HIDDEN, HEADS, FFN, LAYERS, CLASSES, LN_EPS = 16, 64, 128, 4, 512, 2, 10, 1e-5


def build():
    torch.manual_seed(0)

    def weight(out_features, in_features):
        return (torch.randn(out_features, in_features) / in_features**0.5).requires_grad_()

    w = {}
    for layer in range(LAYERS):
        for name, (out_features, in_features) in {"q": (HIDDEN, HIDDEN), "k": (HIDDEN, HIDDEN), "v": (HIDDEN, HIDDEN), "o": (HIDDEN, HIDDEN), "ffn1": (FFN, HIDDEN), "ffn2": (HIDDEN, FFN)}.items():
            w[f"layer{layer}.{name}.weight"] = weight(out_features, in_features)
            w[f"layer{layer}.{name}.bias"] = (torch.randn(out_features) * 0.01).requires_grad_()
        for norm in ("ln1", "ln2"):
            w[f"layer{layer}.{norm}.weight"] = torch.ones(HIDDEN, requires_grad=True)
            w[f"layer{layer}.{norm}.bias"] = torch.zeros(HIDDEN, requires_grad=True)
    w["classifier.weight"] = weight(CLASSES, HIDDEN)
    w["classifier.bias"] = (torch.randn(CLASSES) * 0.01).requires_grad_()
    return w, torch.randn(BATCH, SEQ_LEN, HIDDEN), torch.randint(0, CLASSES, (BATCH,))


def step(w, x, labels):
    def linear(t, name):
        return F.linear(t, w[f"{name}.weight"], w[f"{name}.bias"])

    def norm(t, name):
        return F.layer_norm(t, [HIDDEN], w[f"{name}.weight"], w[f"{name}.bias"], LN_EPS)

    def split(t):
        return t.reshape(BATCH, SEQ_LEN, HEADS, HIDDEN // HEADS).transpose(1, 2)

    for layer in range(LAYERS):
        p = f"layer{layer}"
        q, k, v = split(linear(x, f"{p}.q")), split(linear(x, f"{p}.k")), split(linear(x, f"{p}.v"))
        context = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(BATCH, SEQ_LEN, HIDDEN)
        x = norm(x + linear(context, f"{p}.o"), f"{p}.ln1")
        x = norm(x + linear(F.gelu(linear(x, f"{p}.ffn1")), f"{p}.ffn2"), f"{p}.ln2")
    loss = F.cross_entropy(linear(x.mean(1), "classifier"), labels)
    loss.backward()
    for t in w.values():
        t.grad = None
    return loss.item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    w, x, labels = build()
    for _ in range(2):  # the suite's warm-up
        step(w, x, labels)
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step(w, x, labels)
        times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"engine": "pytorch", "library": f"torch {torch.__version__}", "threads": torch.get_num_threads(), "msPerStep": statistics.median(times), "minMs": min(times), "stepMs": times}))


if __name__ == "__main__":
    main()
