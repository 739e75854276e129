"""Training: the loop (:mod:`.loop`) and the model folder with its resumable state (:mod:`.checkpoint`)."""

from soundmorph.training.loop import (
    HISTORY_FILE,
    EpochStats,
    fit,
    holdout_loss,
    kl_weight_at,
    read_history,
)

__all__ = ["HISTORY_FILE", "EpochStats", "fit", "holdout_loss", "kl_weight_at", "read_history"]
