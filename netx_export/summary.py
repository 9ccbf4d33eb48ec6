"""The text table ``export``, ``inspect`` and ``import-nir`` print of a network."""
from __future__ import annotations

import numpy as np

from lava_convdelay.nn.readout import RULES
from netx_export.spec import NetworkSpec


def _range(values: np.ndarray | None) -> str:
    if values is None:
        return "-"
    return f"{values.min()}..{values.max()}"


def layer_table(spec: NetworkSpec) -> str:
    """A text table of the layers: type, shape, weights, synapses, delays, params."""
    header = ("layer", "type", "shape", "weights", "synapses", "ff delay", "rec delay", "rec params")
    rows = [("0", "input", f"{spec.input_size}", "-", "-", "-", "-", "-")]
    for i, layer in enumerate(spec.layers, start=1):
        weights = layer.ff_conv.kernel.size if layer.ff_conv is not None else layer.weight.size
        weights += 0 if layer.weight_rec is None else (layer.conv.kernel.size if layer.conv else layer.weight_rec.size)
        if layer.delay_channels is not None:
            weights += layer.delay_channels.kernel.size
        synapses = int(np.count_nonzero(layer.weight)) + layer.recurrent_synapses
        rows.append((str(i), layer.type, f"{layer.in_features}->{layer.num_neurons}", str(weights),
                     str(synapses), _range(layer.delay),
                     _range(layer.delay_channels.delays if layer.delay_channels is not None else layer.delay_rec),
                     str(layer.recurrent_params) if layer.is_recurrent else "-"))
    widths = [max(len(r[c]) for r in rows + [header]) for c in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in rows]
    total = sum(layer.recurrent_params for layer in spec.layers)
    lines.append(f"recurrent parameters: {total}; file: {spec.source}")
    lines.append(f"readout: {spec.readout} ({RULES[spec.readout]})")
    lines.append(f"input: {spec.encoding.describe() if spec.encoding else 'binning not recorded'}")
    if spec.encoding is not None and spec.encoding.audio is not None:
        from lava_convdelay.data.audio_encoding import AudioEncoding
        lines.append(f"audio: {AudioEncoding.from_json(spec.encoding.audio, spec.source).describe()} (data import)")
    names = spec.class_names
    lines.append(f"classes: {len(names)} ({', '.join(names)})" if names else "classes: names not recorded")
    return "\n".join(lines)
