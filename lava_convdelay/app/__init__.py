"""The application layer's shared functions: what ties the training side
(:mod:`lava_convdelay.nn`, :mod:`lava_convdelay.training`) to the network file
(:mod:`netx_export`) and the simulators (:mod:`sim`). The commands
(:mod:`lava_convdelay.cli`) and the benchmarks use them; nothing below the
application layer imports them."""
from lava_convdelay.app.agreement import spike_agreement
from lava_convdelay.app.evaluation import Evaluation, evaluate, fixed_predictions, lava_predictions
from lava_convdelay.app.runs import (
    checkpoint_network,
    checkpoint_spec,
    export_checkpoint,
    load_network,
    recorded_inputs,
    run_checkpoint,
)
from lava_convdelay.app.spike_files import check_binning, load_spikes, save_npy

__all__ = [
    "Evaluation", "check_binning", "checkpoint_network", "checkpoint_spec", "evaluate", "export_checkpoint",
    "fixed_predictions", "lava_predictions", "load_network", "load_spikes", "recorded_inputs",
    "run_checkpoint", "save_npy", "spike_agreement",
]
