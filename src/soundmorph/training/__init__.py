"""Training: the loop (:mod:`.loop`), the model folder with its resumable state (:mod:`.checkpoint`)
and several processes (:mod:`.distributed`)."""

from soundmorph.training.loop import (
    HISTORY_FILE,
    EpochStats,
    fit,
    holdout_loss,
    kl_weight_at,
    loss_terms,
    read_history,
)

__all__ = ["HISTORY_FILE", "EpochStats", "fit", "holdout_loss", "kl_weight_at", "loss_terms", "read_history"]
