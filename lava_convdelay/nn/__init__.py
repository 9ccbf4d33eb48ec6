"""The network core: SLAYER-style CUBA-LIF blocks with learnable recurrent axonal
delays over dense or convolutional recurrence, the model built from a config,
its checkpoint format and the decision rule. Needs torch and lava-dl's SLAYER
only; never imports :mod:`netx_export` or :mod:`sim`.

Composition, as in SLAYER: a block (:mod:`.blocks`) is an input synapse, a
recurrent synapse (:mod:`.recurrent_synapse`), recurrent axonal delays
(:mod:`.axonal_delay`, the rule in :mod:`.delays`) and SLAYER's CUBA neuron,
stepped through time by :mod:`.cuba_recurrence`. The convolutional front end
(:mod:`.conv_block`) is SLAYER's feed-forward ``cuba.Conv`` over channels x positions.
"""
from lava_convdelay.nn.axonal_delay import RecurrentDelay
from lava_convdelay.nn.blocks import AbstractDelayRecurrent, Affine, ConvDelayRecurrent, DelayRecurrent
from lava_convdelay.nn.checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint
from lava_convdelay.nn.conv_block import ConvBlock
from lava_convdelay.nn.cuba_recurrence import CubaConstants, recurrent_cuba
from lava_convdelay.nn.delays import SigmaSchedule, check_max_delay, delay_kernel, num_lags, round_delays
from lava_convdelay.nn.layer_config import ConfigError
from lava_convdelay.nn.model import SpikingNetwork
from lava_convdelay.nn.readout import READOUTS, decide, scores, to_voltage_units
from lava_convdelay.nn.recurrent_synapse import ConvRecurrentSynapse, DenseRecurrentSynapse, conv_to_dense
from lava_convdelay.nn.weight_range import project_weights_

__all__ = [
    "AbstractDelayRecurrent", "Affine", "CheckpointError", "ConfigError", "ConvBlock", "ConvDelayRecurrent",
    "ConvRecurrentSynapse", "CubaConstants", "DelayRecurrent", "DenseRecurrentSynapse", "READOUTS",
    "RecurrentDelay", "SigmaSchedule", "SpikingNetwork", "check_max_delay", "conv_to_dense", "decide",
    "delay_kernel", "load_model", "num_lags", "project_weights_", "read_checkpoint", "recurrent_cuba",
    "round_delays", "save_checkpoint", "scores", "to_voltage_units",
]
