"""CLI: ``export`` a checkpoint to NetX HDF5 and ``inspect`` a network file."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lava_convdelay.atomic import check_output_path
from lava_convdelay.checkpoint import load_model, recorded_inputs
from lava_convdelay.errors import UserError
from lava_convdelay.readout import RULES
from netx_export.description import NetworkSpec
from netx_export.exporter import blocks_to_spec
from netx_export.reader import read_network
from netx_export.writer import write_network


def checkpoint_spec(checkpoint: Path) -> NetworkSpec:
    """The quantized network of ``checkpoint`` with what the run recorded of its data
    (binning, class names); errors name the checkpoint."""
    model, data = load_model(checkpoint)
    return blocks_to_spec(list(model.blocks), str(checkpoint), *recorded_inputs(checkpoint, data))


def export_checkpoint(checkpoint: Path, output: Path) -> NetworkSpec:
    """Write the network of ``checkpoint`` (:func:`checkpoint_spec`) to ``output``."""
    spec = checkpoint_spec(checkpoint)
    write_network(spec, output)
    return spec


def run_export(args: argparse.Namespace) -> int:
    if args.clamp:
        raise UserError("--clamp is no longer needed: export writes the weights and delays the training "
                        "forward computes with (quantized and clamped there), so nothing is left to clamp; "
                        "drop --clamp")
    check_output_path(args.output)
    spec = export_checkpoint(args.checkpoint, args.output)
    print(f"wrote {args.output}")
    if spec.encoding is None:
        print(f"note: {args.checkpoint} does not record how its input was binned, so {args.output} does "
              f"not either: give evaluate --dt/--pool/--duration, and simulate input binned as in training")
    print(layer_table(read_network(args.output)))
    return 0


def _range(values: np.ndarray | None) -> str:
    if values is None:
        return "-"
    return f"{values.min()}..{values.max()}"


def layer_table(spec: NetworkSpec) -> str:
    """A text table of the layers: type, shape, weights, synapses, delays, params."""
    header = ("layer", "type", "shape", "weights", "synapses", "ff delay", "rec delay", "rec params")
    rows = [("0", "input", f"{spec.input_size}", "-", "-", "-", "-", "-")]
    for i, layer in enumerate(spec.layers, start=1):
        weights = layer.weight.size + (0 if layer.weight_rec is None else
                                       (layer.conv.kernel.size if layer.conv else layer.weight_rec.size))
        synapses = int(np.count_nonzero(layer.weight)) + layer.recurrent_synapses
        rows.append((str(i), layer.type, f"{layer.in_features}->{layer.num_neurons}", str(weights),
                     str(synapses), _range(layer.delay), _range(layer.delay_rec),
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


def run_inspect(args: argparse.Namespace) -> int:
    spec = read_network(args.network)
    print(layer_table(spec))
    if args.loihi2:
        from sim.loihi2_resources import chip_fit, fit_table
        fit = chip_fit(spec)
        print()
        print(fit_table(fit))
        return 0 if fit.fits else 1
    return 0


def add_parser(subparsers) -> None:
    export = subparsers.add_parser("export", help="quantize a checkpoint and write NetX HDF5")
    export.add_argument("checkpoint", type=Path, help="training checkpoint (.pt)")
    export.add_argument("-o", "--output", type=Path, required=True, help="network file to write (.h5)")
    export.add_argument("--clamp", action="store_true", help=argparse.SUPPRESS)  # removed; says so
    export.set_defaults(func=run_export)

    inspect = subparsers.add_parser("inspect", help="print the layer table of a network file")
    inspect.add_argument("network", type=Path, help="network file (.h5)")
    inspect.add_argument("--loihi2", action="store_true",
                         help="estimate Loihi 2 resources (cores, memory) and whether the network "
                              "fits one chip; exit status 1 if it does not")
    inspect.set_defaults(func=run_inspect)
