"""Child process for tests/test_saved_model.py: the real CLI's ``train``, plus a probe.

Runs ``cost_ms.cli.main(["train", ...])`` in this process and, right after training returns (before
anything is read back from disk), decodes a probe history with the in-memory network. Writes
``{"topk": [[item_index, score], ...]}`` to the JSON path given first.
"""
import json
import sys

import cost_ms.generator as generator
from cost_ms.cli import main

out, history, argv = sys.argv[1], [int(i) for i in sys.argv[2].split(",")], sys.argv[3:]
probe = {}
real_run_train = generator.run_train


def run_train_and_probe(*args, **kw):
    inputs, net, evaluator, state = real_run_train(*args, **kw)
    probe["topk"] = evaluator.recommend(history, 5)       # the trained weights, still in memory
    return inputs, net, evaluator, state


generator.run_train = run_train_and_probe
rc = main(argv)
with open(out, "w") as f:
    json.dump(probe, f)
sys.exit(rc)
