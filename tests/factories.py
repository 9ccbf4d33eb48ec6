"""Networks, specs and data the tests share (factories, not tests): random
specs of every layer type, toy SHD files and datasets, small trained-side
models for the Loihi 2 graph, and a reader of HDF5 contents."""
import functools

import h5py
import numpy as np
import pytest
import torch
from naive_reference import naive_banded
from torch.utils.data import TensorDataset

from lava_convdelay.data import write_shd
from lava_convdelay.nn.model import SpikingNetwork
from netx_export.spec import ConvFeedForward, ConvRecurrence, CubaParams, DelayChannels, LayerSpec, NetworkSpec

#: seeds of the equivalence sweeps: seed 0 also in `make test-fast`, the others only in `make test`
SWEEP_SEEDS = [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)]


# --------------------------------------------------------------------------- random specs (every layer type)


def even_weights(rng, shape, low=-180, high=160, corners=True):
    """Even integers; the corners -256 and 254 of the 8-bit range are planted
    unless ``corners`` is False (then Lava's weight exponent is not 0)."""
    w = 2 * rng.integers(low // 2, high // 2 + 1, size=shape)
    flat = w.reshape(-1)
    if corners and flat.size >= 2:
        flat[rng.integers(flat.size)] = 254
        flat[rng.integers(flat.size)] = -256
    return w.astype(np.int64)


def cuba(rng, scale=1):
    return CubaParams(i_decay=int(rng.integers(600, 2500)), v_decay=int(rng.integers(300, 1500)),
                      vth_mant=int(rng.integers(100, 220)) // scale)


def make_layer(rng, kind, n, n_in, *, ff_delay=0, max_delay=0, channels=1, k=3, rec=(-200, 120), small=False,
               delay_channels=1):
    """A random layer; ``small``: weights and threshold / 8, no range corners (weight_exp < 0)."""
    scale = 8 if small else 1

    def weights(shape, low=-180, high=160):
        return even_weights(rng, shape, low // scale, high // scale, corners=not small)
    neuron = cuba(rng, scale)
    if kind == "conv":  # the front end: channels x F positions from n_in / F input channels
        positions = n // channels
        kernel = weights((channels, n_in // positions, k))
        return LayerSpec("conv", naive_banded(kernel, positions), neuron,
                         ff_conv=ConvFeedForward(n_in // positions, channels, k, kernel))
    w = weights((n, n_in))
    if kind == "dense":
        delay = rng.integers(0, ff_delay + 1, n).astype(np.int64) if ff_delay else None
        return LayerSpec("dense", w, neuron, delay=delay)
    if kind == "dense_rec":
        return LayerSpec("dense_rec", w, neuron, weight_rec=weights((n, n), *rec))
    if kind == "dchan_rec":  # one delay per delay channel, 0 and max_delay among them
        kernel = weights((delay_channels, channels, k), *rec)
        delays = np.sort(rng.integers(1, max_delay + 1, delay_channels)).astype(np.int64)
        delays[0], delays[-1] = 0, max_delay
        return LayerSpec("dchan_rec", w, neuron, max_delay=max_delay,
                         delay_channels=DelayChannels(channels, k, kernel, delays))
    delays = rng.integers(0, max_delay + 1, n).astype(np.int64)
    delays[rng.integers(n)] = max_delay
    if kind == "delay_rec":
        return LayerSpec("delay_rec", w, neuron, weight_rec=weights((n, n), *rec),
                         delay_rec=delays, max_delay=max_delay)
    kernel = weights((channels, channels, k), *rec)
    return LayerSpec("conv_rec", w, neuron, weight_rec=naive_banded(kernel, n // channels),
                     delay_rec=delays, max_delay=max_delay, conv=ConvRecurrence(channels, k, kernel))

#: name -> (input channels, [(kind, neurons, options)])
NETWORKS = {
    "conv k3 C1": (10, [("conv_rec", 16, dict(k=3, max_delay=62))]),
    "conv k5 C2": (10, [("conv_rec", 18, dict(k=5, channels=2, max_delay=20))]),
    "conv k7 C3": (10, [("conv_rec", 21, dict(k=7, channels=3, max_delay=9))]),
    "delay_rec": (10, [("delay_rec", 14, dict(max_delay=30))]),
    "delay channels k3 C2 D4": (10, [("dchan_rec", 16, dict(k=3, channels=2, delay_channels=4, max_delay=62))]),
    "delay channels k5 C4 D2": (10, [("dchan_rec", 20, dict(k=5, channels=4, delay_channels=2, max_delay=9)),
                                     ("dchan_rec", 12, dict(k=3, delay_channels=1, max_delay=5, small=True))]),
    "dense_rec": (10, [("dense_rec", 14, {})]),
    "dense + ff delay": (10, [("dense", 12, dict(ff_delay=9)), ("dense", 6, dict(ff_delay=4))]),
    "small weights": (10, [("dense", 12, dict(ff_delay=3, small=True)),
                           ("conv_rec", 12, dict(k=5, max_delay=12, small=True)),
                           ("delay_rec", 10, dict(max_delay=8, small=True)),
                           ("dense_rec", 8, dict(small=True))]),
    "conv front end": (10, [("conv", 30, dict(k=5, channels=3)), ("conv", 20, dict(k=3, channels=2)),
                            ("conv_rec", 20, dict(k=3, channels=2, max_delay=12)), ("dense", 5, {})]),
    "stack": (10, [("dense", 12, dict(ff_delay=6)), ("conv_rec", 16, dict(k=3, channels=2, max_delay=40)),
                   ("delay_rec", 12, dict(max_delay=15)), ("dense_rec", 10, {}), ("dense", 5, {})]),
}


def make_spec(name, seed):
    channels, layers = NETWORKS[name]
    rng = np.random.default_rng(seed)
    specs, n_in = [], channels
    for kind, n, options in layers:
        specs.append(make_layer(rng, kind, n, n_in, **options))
        n_in = n
    return NetworkSpec(channels, specs, source=f"<{name}, seed {seed}>")


def random_spikes(seed, channels, samples, steps, rate=0.2):
    """0/1 input ``[samples, channels, steps]`` int8, spikes with probability ``rate``."""
    return (np.random.default_rng(1000 + seed).random((samples, channels, steps)) < rate).astype(np.int8)


# --------------------------------------------------------------------------- toy SHD files

TOY_KEYS = ["low", "mid", "high"]


def toy_shd(path, n, seed):
    """Three classes: bursts in the low / middle / high third of the 700 channels."""
    rng = np.random.default_rng(seed)
    times, units, labels = [], [], []
    for i in range(n):
        label = i % 3
        t = np.sort(rng.uniform(0.0, 0.3, 120))
        u = rng.integers(label * 233, (label + 1) * 233, 120)
        noise_t, noise_u = rng.uniform(0.0, 0.3, 20), rng.integers(0, 700, 20)
        times.append(np.concatenate([t, noise_t]))
        units.append(np.concatenate([u, noise_u]))
        labels.append(label)
    return write_shd(path, times, units, labels, TOY_KEYS, speaker=np.zeros(n, int))


# --------------------------------------------------------------------------- training

TRAIN_NEURON = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03, "tau_grad": 0.03, "scale_grad": 3}

TRAIN_CONFIG = {
    "seed": 3,
    "model": {"neuron": TRAIN_NEURON, "layers": [
        {"type": "conv_delay_rec", "neurons": 16, "max_delay": 10, "rec_dropout": 0.2},
        {"type": "dense", "neurons": 3}]},
    "train": {"epochs": 4, "batch_size": 8, "sigma_init": 3},
}


def toy_data(n, seed):
    """Three classes, each a burst on its own group of 4 channels."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = (torch.rand(n, 12, 40, generator=gen) < 0.05).float()
    for i in range(n):
        x[i, 4 * y[i]:4 * y[i] + 4, 5:35:3] = 1
    return TensorDataset(x, y)


@functools.cache
def toy_datasets():
    """(train, test) of :func:`toy_data`, made once per process."""
    return toy_data(48, 0), toy_data(24, 1)


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    """``a`` and ``b`` hold the same parameters and buffers, every one equal (a key
    missing on either side fails, as a plain zip over the values would not)."""
    left, right = a.state_dict(), b.state_dict()
    assert list(left) == list(right), sorted(set(left) ^ set(right))
    for name, value in left.items():
        assert torch.equal(value, right[name]), name


# --------------------------------------------------------------------------- files


def hdf5_contents(path):
    """``({name: (value, dtype, shape)} of every dataset, root attributes)`` of an HDF5 file."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, (obj[()], obj.dtype, obj.shape))
                     if isinstance(obj, h5py.Dataset) else None)
        attrs = dict(f.attrs)
    return out, attrs


# --------------------------------------------------------------------------- the Loihi 2 graph

HARDWARE_NEURON = {"threshold": 1.0, "current_decay": 0.5, "voltage_decay": 0.2}


def hardware_model(seed=2, weight_scale=2.0, output="dense"):
    """Feed-forward delays, a conv and a dense delayed recurrence, an output
    layer (``"affine"``: non-spiking, a voltage readout)."""
    torch.manual_seed(seed)
    model = SpikingNetwork({"input_size": 8, "neuron": HARDWARE_NEURON, "layers": [
        {"type": "dense", "neurons": 10, "delay": True, "weight_scale": weight_scale},
        {"type": "conv_delay_rec", "neurons": 12, "max_delay": 15, "weight_scale": weight_scale},
        {"type": "delay_rec", "neurons": 8, "max_delay": 9, "weight_scale": weight_scale},
        {"type": output, "neurons": 3, "weight_scale": weight_scale}]}).eval()
    with torch.no_grad():  # SLAYER's feed-forward delays: spread them
        model.blocks[0].delay.delay.copy_(torch.randint(0, 7, (10,)).float() + 0.4)
    return model


def hardware_input(seed=2, samples=4, steps=30):
    return (np.random.default_rng(seed).random((samples, 8, steps)) < 0.3).astype(np.int8)


# --------------------------------------------------------------------------- a Loihi 2 system, at its boundary

SINFO = ["PARTITION AVAIL TIMELIMIT NODES STATE NODELIST",
         "oheogulch* up infinite 2 idle ncl-ext-og-[01-02]",
         "oheogulch_20m up 20:00 1 idle ncl-ext-og-05",
         "kp_broken up infinite 1 down ncl-kp-01"]
SINFO_NODES = ["NODELIST NODES PARTITION STATE",
               "ncl-ext-og-01 1 oheogulch* idle",
               "ncl-ext-og-02 1 oheogulch* down",
               "ncl-ext-og-05 1 oheogulch_20m idle"]


def fake_loihi_system(monkeypatch, sinfo=True):
    """lava-loihi "installed" and SLURM's ``sinfo`` answering with :data:`SINFO` /
    :data:`SINFO_NODES` (``sinfo=False``: no answer), through lava-nc's own
    ``lava.utils.loihi`` / ``slurm`` code; the variables they set start unset."""
    from lava.utils import loihi, slurm

    for key in ("LOIHI_GEN", "PARTITION", "BOARD", "SLURM", "NOSLURM", "NXSDKHOST", "HOST_BINARY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(loihi, "is_installed", lambda module_name="lava.utils.loihi2_profiler": True)
    monkeypatch.setattr(loihi, "host", None)

    def answer(command):
        if not sinfo:
            return []
        return {("sinfo",): list(SINFO), ("sinfo", "-N"): list(SINFO_NODES)}.get(tuple(command), [])
    monkeypatch.setattr(slurm, "try_run_command", answer)


def train_and_export(tmp_path, data: dict, output: str = "dense"):
    """A 2-class network of one ``output`` layer (``dense``: spiking, ``affine``: voltage
    readout) trained 1 epoch on ``data`` (a config's data section) and exported, both
    through the CLI; returns the network file ``tmp_path / "net.h5"``."""
    import json

    from lava_convdelay.cli import main
    config = {"seed": 0, "data": data,
              "model": {"neuron": {"threshold": 1.0, "current_decay": 0.5, "voltage_decay": 0.2},
                        "layers": [{"type": output, "neurons": 2}]},
              "train": {"epochs": 1, "batch_size": 2}}
    (tmp_path / "c.json").write_text(json.dumps(config))
    assert main(["train", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "run"),
                 "--no-progress"]) == 0
    assert main(["export", str(tmp_path / "run" / "checkpoint.pt"), "-o", str(tmp_path / "net.h5")]) == 0
    return tmp_path / "net.h5"


def assert_product_matches(product, x, base, grad, expected, want_x, want_w, back_rows: int) -> None:
    """A recurrent product (``propagate``, ``propagate_transposed``, ``weight_gradient``)
    against the autograd reference, step by step (float64, rtol 1e-12): ``x`` reads
    ``[T, rows, batch]``, ``expected`` its outputs, ``want_x`` / ``want_w`` the
    gradients of ``(expected * grad).sum()``; ``back_rows`` rows of the transposed product."""
    n, batch = expected.shape[1], expected.shape[2]
    out = torch.empty(n, batch, dtype=torch.float64)
    back = torch.empty(back_rows, batch, dtype=torch.float64)
    for t in range(x.shape[0]):
        product.propagate(x[t].detach(), base, out=out)
        torch.testing.assert_close(out, expected[t].detach() + base, rtol=1e-12, atol=1e-12)
        product.propagate_transposed(grad[t], out=back)
        torch.testing.assert_close(back, want_x[t], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(product.weight_gradient(grad, x.detach()), want_w, rtol=1e-12, atol=1e-12)

