"""Training curves: ``history.json`` and a PNG of loss and validation metric against steps."""
import os

from ..io import atomic_path, write_json

HISTORY = "history.json"
PLOT = "training_curve.png"


def write_curves(folder, name, state, loss_key="loss", metric=None):
    """Write ``folder/history.json`` (per interval: step, losses, lr, samples/s; per epoch and per
    validation: the records) and ``folder/training_curve.png``; return the PNG's path."""
    write_json(os.path.join(folder, HISTORY), {"name": name, "intervals": state["curve"], "epochs": state["history"],
                                               "validation_metric": metric})
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    steps = [r["step"] for r in state["curve"]]
    ax.plot(steps, [r[loss_key] for r in state["curve"]], color="tab:blue", label=f"train {loss_key}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(f"train {loss_key}", color="tab:blue")
    ax.set_title(name)
    valid = [r for r in state["history"] if metric and f"valid_{metric}" in r]
    if valid:
        right = ax.twinx()
        right.plot([r["global_step"] for r in valid], [r[f"valid_{metric}"] for r in valid], "o-", color="tab:red",
                   label=f"valid {metric}")
        right.set_ylabel(f"valid {metric}", color="tab:red")
    fig.tight_layout()
    path = os.path.join(folder, PLOT)
    with atomic_path(path, suffix=".tmp.png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
