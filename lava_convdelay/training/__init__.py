"""Training: the config schema and its defaults (the shipped recipe), the
datasets a config names, the training loop (resumable, DDP through
``torchrun``), losses, augmentation, predictions and plots. Builds on
:mod:`lava_convdelay.nn` and :mod:`lava_convdelay.data`; never imports
:mod:`netx_export` or :mod:`sim`."""
from lava_convdelay.training.augment import augment_spikes
from lava_convdelay.training.config import DEFAULT_TRAIN, TrainConfigError, load_config, normalise_config
from lava_convdelay.training.data_section import DataConfigError, build_datasets, check_data_section
from lava_convdelay.training.loop import train
from lava_convdelay.training.losses import count_ce_loss, rate_loss, voltage_ce_loss
from lava_convdelay.training.predictions import model_predictions

__all__ = [
    "DEFAULT_TRAIN", "DataConfigError", "TrainConfigError", "augment_spikes", "build_datasets",
    "check_data_section", "count_ce_loss", "load_config", "model_predictions", "normalise_config",
    "rate_loss", "train", "voltage_ce_loss",
]
