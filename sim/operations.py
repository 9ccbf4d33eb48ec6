"""What one inference costs in operations, counted on the fixed-point
simulator (bit-exact with Lava) over given samples, per layer:

- **spikes**: the layer's spikes in the sample's ``T`` steps;
- **synaptic operations** (synops): every presynaptic spike emitted in those
  steps times the synapses it is looked up in, feed-forward and recurrent
  apart; ``nonzero``: the synapses with a non-zero weight (what an
  event-driven accounting charges); ``built``: as the Loihi 2 graph builds
  them (:func:`sim.graph_options.built_fan_out`: a ``Dense`` /
  ``DelayDense`` row for every neuron, zero weights included -- whether the
  chip skips zeros there is not public);
- **neuron updates**: ``N * T`` (Loihi updates every compartment every step);
- **dense-equivalent MACs**: ``T * (N * inputs + N * N)`` (recurrent layers),
  what a non-spiking accelerator does for the same matrices every step.

A delay moves when a synaptic operation's result is used, not whether it
happens, so it does not change the counts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from netx_export.spec import NetworkSpec
from sim.fixed_point import simulate
from sim.graph_options import built_channel_fan_out, built_fan_out

__all__ = ["LayerOperations", "Operations", "count_operations"]


@dataclass
class LayerOperations:
    """Per-sample counts ``[B]`` of one layer (see the module docstring)."""

    spikes: np.ndarray
    ff_nonzero: np.ndarray
    ff_built: np.ndarray
    rec_nonzero: np.ndarray
    rec_built: np.ndarray
    neuron_updates: int
    dense_macs: int


@dataclass
class Operations:
    """Counts of ``samples`` inferences of ``steps`` steps, per layer."""

    samples: int
    steps: int
    delayed_synapse: str
    layers: list[LayerOperations] = field(default_factory=list)

    def total(self, key: str) -> np.ndarray:
        """``[B]``: ``key`` summed over the layers."""
        return sum((np.broadcast_to(getattr(layer, key), (self.samples,)) for layer in self.layers),
                   np.zeros(self.samples, np.int64))

    def synops(self, kind: str) -> np.ndarray:
        """``[B]``: all synaptic operations, ``kind`` ``"nonzero"`` or ``"built"``."""
        return self.total(f"ff_{kind}") + self.total(f"rec_{kind}")

    def table(self) -> str:
        """Per layer and in total, the mean per inference."""
        header = ("layer", "spikes", "ff synops (non-zero / built)", "rec synops (non-zero / built)",
                  "neuron updates", "dense-equivalent MACs")
        rows = [(str(i), f"{layer.spikes.mean():.1f}", f"{layer.ff_nonzero.mean():.0f} / {layer.ff_built.mean():.0f}",
                 f"{layer.rec_nonzero.mean():.0f} / {layer.rec_built.mean():.0f}", str(layer.neuron_updates),
                 str(layer.dense_macs)) for i, layer in enumerate(self.layers, start=1)]
        rows.append(("all", f"{self.total('spikes').mean():.1f}",
                     f"{self.total('ff_nonzero').mean():.0f} / {self.total('ff_built').mean():.0f}",
                     f"{self.total('rec_nonzero').mean():.0f} / {self.total('rec_built').mean():.0f}",
                     str(int(self.total('neuron_updates')[0])), str(int(self.total('dense_macs')[0]))))
        widths = [max(len(r[c]) for r in rows + [header]) for c in range(len(header))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in [header] + rows]
        lines.append(f"per inference: mean over {self.samples} sample(s) of {self.steps} steps on the fixed-point "
                     f"simulator; built = the Loihi 2 graph with --delayed-synapse {self.delayed_synapse}")
        return "\n".join(lines)


def count_operations(spec: NetworkSpec, spikes: np.ndarray, delayed_synapse: str = "dense",
                     chunk: int = 64) -> Operations:
    """:class:`Operations` of ``spikes`` ``[B, C, T]`` (0/1) through the validated
    ``spec``, ``chunk`` samples at a time."""
    spikes = np.asarray(spikes)
    samples, _, steps = spikes.shape
    ops = Operations(samples, steps, delayed_synapse)
    counts: list[list[np.ndarray]] = [[] for _ in spec.layers]
    channel_matrices = {i: layer.delay_channels.matrices(layer.num_neurons)
                        for i, layer in enumerate(spec.layers) if layer.delay_channels is not None}
    for start in range(0, samples, chunk):
        part = spikes[start:start + chunk]
        run = simulate(spec, part, record_layers=True)
        pre = part.astype(np.int64).sum(axis=-1)  # [b, inputs] spikes per presynaptic neuron
        for l, layer in enumerate(spec.layers):  # noqa: E741 -- layer index
            own = run.layers[l].astype(np.int64).sum(axis=-1)  # [b, N]
            weight = np.asarray(layer.weight)
            parts = [own.sum(axis=1), pre @ np.count_nonzero(weight, axis=0), pre.sum(axis=1) * layer.num_neurons]
            if layer.delay_channels is not None:  # one synapse per delay channel
                matrices = channel_matrices[l]
                parts += [own @ np.count_nonzero(matrices, axis=1).sum(axis=0),
                          own @ built_channel_fan_out(matrices, delayed_synapse)]
            elif layer.weight_rec is not None:
                parts += [own @ np.count_nonzero(layer.weight_rec, axis=0),
                          own @ built_fan_out(layer.weight_rec, layer.delay_rec, delayed_synapse)]
            else:
                parts += [np.zeros(len(part), np.int64)] * 2
            counts[l].append(np.stack(parts))
            pre = own
    for layer, per_chunk in zip(spec.layers, counts):
        spikes_, ff_nz, ff_built, rec_nz, rec_built = np.concatenate(per_chunk, axis=1)
        n = layer.num_neurons
        macs = n * layer.in_features + (n * n if layer.is_recurrent else 0)
        ops.layers.append(LayerOperations(spikes_, ff_nz, ff_built, rec_nz, rec_built, n * steps, macs * steps))
    return ops
