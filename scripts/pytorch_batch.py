"""Runs a PyTorch file nodegrad exported on a batch and prints every node's value.

    python pytorch_batch.py MODEL.py FEEDS.json

FEEDS.json maps each Input (its Python name) to {"shape": [batch, ...], "value": [...]}.
Prints one JSON object: node name -> {"shape": [...], "value": [...]} (float64, eval mode).
Used by tests/interop_export.rs to check that samples of a batch never mix.
"""

import importlib.util
import json
import sys

import torch


def main():
    model_path, feeds_path = sys.argv[1:3]
    spec = importlib.util.spec_from_file_location("exported", model_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.load_weights(module.Model().double())
    model.eval()
    with open(feeds_path) as f:
        feeds = {
            name: torch.tensor(v["value"], dtype=torch.float64).reshape(v["shape"])
            for name, v in json.load(f).items()
        }
    with torch.no_grad():
        model(**feeds)
    print(json.dumps({
        name: {"shape": list(v.shape), "value": [float(x) for x in v.reshape(-1)]}
        for name, v in model.values.items()
    }))


if __name__ == "__main__":
    main()
