"""The training engine every trainer runs on: one train step, strict checkpoints, lr schedules, one loop."""
from .checkpoint import CheckpointManager
from .step import make_train_step
from .weights import fingerprint, load_weights, save_weights, state_dict

__all__ = ["CheckpointManager", "make_train_step", "fingerprint", "load_weights", "save_weights", "state_dict"]
