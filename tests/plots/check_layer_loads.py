"""Checks the layer loads `moesim run --layer-loads` adds to a metrics file (named on the command
line): every MoE layer has expert_tokens (one per expert) and rank_tokens (one per EP rank),
each rank's count is the sum of its contiguous experts', and the per-layer counts average (over
layers) to the same expert shares as the run's experts[]. Exit 1 naming the first failure."""

import json
import math
import sys


def problem(doc):
    """What is wrong with doc's layer loads, or None."""
    layers = doc["routing"]["layers"]
    experts = [e["tokens"] for e in doc["experts"]]
    if not layers:
        return "no MoE layers"
    for l in layers:
        tokens, ranks = l["expert_tokens"], l["rank_tokens"]
        if len(tokens) != len(experts) or len(tokens) % len(ranks):
            return f"layer {l['layer']}: {len(tokens)} experts, {len(ranks)} ranks"
        per = len(tokens) // len(ranks)
        for k, r in enumerate(ranks):
            if not math.isclose(sum(tokens[k * per:(k + 1) * per]), r, rel_tol=1e-9):
                return f"layer {l['layer']}: rank {k} holds {r}, its experts sum differently"
    mean = [sum(l["expert_tokens"][e] for l in layers) / len(layers) for e in range(len(experts))]
    for e, (a, b) in enumerate(zip(mean, experts)):
        if not math.isclose(a / sum(mean), b / sum(experts), rel_tol=1e-9):
            return f"expert {e}: share {a / sum(mean)} over layers, {b / sum(experts)} in experts[]"
    return None


def main(path):
    with open(path, encoding="utf-8") as f:
        what = problem(json.load(f))
    if what:
        print(f"{path}: {what}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
