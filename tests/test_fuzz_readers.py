"""Property / fuzz tests: every reader either returns a valid object or raises
a UserError naming the file; never another exception, never a hang.

Cases per reader (``max_examples``): network HDF5 mutations 150, truncations
60, raw bytes 60, checkpoints 60, training configs 100, train sections 100,
data sections 100, model sections 100; command-line options of verify 60,
evaluate 60 and simulate 40 (the simulators stubbed: what passes the checks must
be usable by them).
"""
import json
import pickle

import h5py
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lava_convdelay.cli import main
from lava_convdelay.data.encoding import InputEncoding
from lava_convdelay.errors import UserError
from lava_convdelay.nn.checkpoint import load_model, save_checkpoint
from lava_convdelay.nn.layer_config import LAYER_KEYS, NEURON_BOUNDS
from lava_convdelay.nn.model import SpikingNetwork
from lava_convdelay.training import DEFAULT_TRAIN, load_config
from lava_convdelay.training.data_section import check_data_section
from netx_export.exporter import export_blocks
from netx_export.reader import read_network

NEURON = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03}
CONFIG = {"input_size": 6, "neuron": NEURON, "layers": [
    {"type": "dense", "neurons": 8, "delay": True},
    {"type": "conv_delay_rec", "neurons": 8, "kernel_size": 3, "channels": 2, "max_delay": 10},
    {"type": "delay_rec", "neurons": 6, "max_delay": 12},
    {"type": "rec", "neurons": 5},
    {"type": "dense", "neurons": 3}]}
def fuzz(examples):
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def good_network(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("net") / "good.h5"
    export_blocks(list(SpikingNetwork(CONFIG).blocks), path)
    return path


def _datasets(path):
    names = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return names


BAD_VALUES = [np.nan, np.inf, -np.inf, -1, -300, 63, 1e9, 2.5, 0]


def loaded_or_refused(tmp_path, config):
    """``load_config`` of ``config`` (JSON text, or a value to dump) written to a file, or
    None where it was refused with an error naming the file."""
    path = tmp_path / "config.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    try:
        return load_config(path)
    except UserError as err:
        assert str(path) in str(err)
        return None


def _check_outcome(path):
    try:
        spec = read_network(path)
    except UserError as err:
        assert str(path) in str(err)
        return "error"
    # whatever is accepted must be self-consistent and within the documented ranges
    size = spec.input_size
    for layer in spec.layers:
        assert layer.weight.shape == (layer.num_neurons, size)
        assert layer.weight.min() >= -256 and layer.weight.max() <= 254
        for d in (layer.delay, layer.delay_rec):
            if d is not None:
                assert d.min() >= 0 and d.max() <= 62
        if layer.weight_rec is not None:
            assert layer.weight_rec.shape == (layer.num_neurons,) * 2
        size = layer.num_neurons
    return "ok"


@fuzz(150)
@given(data=st.data())
def test_network_reader_mutations(tmp_path, good_network, data):
    path = tmp_path / "net.h5"
    path.write_bytes(good_network.read_bytes())
    names = _datasets(path)
    target = data.draw(st.sampled_from(names))
    action = data.draw(st.sampled_from(["delete", "value", "dtype", "shape", "string", "extra"]))
    with h5py.File(path, "a") as f:
        old = f[target][()]
        if action == "delete":
            del f[target]
        elif action == "value" and np.ndim(old) > 0 and np.issubdtype(np.asarray(old).dtype, np.number):
            arr = np.asarray(old, dtype=np.float64).copy()
            idx = tuple(data.draw(st.integers(0, s - 1)) for s in arr.shape)
            arr[idx] = data.draw(st.sampled_from(BAD_VALUES))
            del f[target]
            f.create_dataset(target, data=arr)
        elif action == "dtype":
            dtype = data.draw(st.sampled_from(["S3", "f2", "bool"]))
            try:
                converted = np.asarray(old).astype(dtype)
            except (ValueError, TypeError):
                converted = np.zeros(np.shape(old), dtype=dtype)
            del f[target]
            f.create_dataset(target, data=converted)
        elif action == "shape":
            del f[target]
            f.create_dataset(target, data=np.zeros(data.draw(st.sampled_from([(), (0,), (3, 1), (2, 2, 2)]))))
        elif action == "string":
            del f[target]
            f.create_dataset(target, data=data.draw(st.sampled_from(["dense", "conv_rec", "\u00e9", "x" * 40])))
        else:
            f.create_dataset(target + "_extra", data=np.ones(3))
    _check_outcome(path)


@fuzz(60)
@given(cut=st.floats(0.0, 0.99))
def test_network_reader_truncated_files(tmp_path, good_network, cut):
    path = tmp_path / "net.h5"
    blob = good_network.read_bytes()
    path.write_bytes(blob[: int(len(blob) * cut)])
    assert _check_outcome(path) == "error"


@fuzz(60)
@given(blob=st.binary(max_size=4096))
def test_network_reader_random_bytes(tmp_path, blob):
    path = tmp_path / "net.h5"
    path.write_bytes(blob)
    assert _check_outcome(path) == "error"


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "ck.pt"
    save_checkpoint(path, SpikingNetwork(CONFIG), epoch=1)
    return path


@fuzz(60)
@given(data=st.data())
def test_checkpoint_reader(tmp_path, good_checkpoint, data):
    path = tmp_path / "ck.pt"
    kind = data.draw(st.sampled_from(["truncate", "flip", "pickle", "config"]))
    good = good_checkpoint.read_bytes()
    if kind == "truncate":
        path.write_bytes(good[: data.draw(st.integers(0, len(good) - 1))])
    elif kind == "flip":
        blob = bytearray(good)
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] ^= data.draw(st.integers(1, 255))
        path.write_bytes(bytes(blob))
    elif kind == "pickle":
        path.write_bytes(pickle.dumps(data.draw(st.sampled_from([None, 3, "x", [1, 2], {"format": 1}]))))
    else:
        config = json.loads(json.dumps(CONFIG))
        layer = data.draw(st.integers(0, len(config["layers"]) - 1))
        key = data.draw(st.sampled_from(["neurons", "type", "max_delay", "kernel_size", "channels"]))
        config["layers"][layer][key] = data.draw(st.sampled_from([0, -3, 99, "x", None, 2.5]))
        torch.save({"format": "lava-convdelay-checkpoint", "version": 1, "config": config,
                    "state_dict": SpikingNetwork(CONFIG).state_dict()}, path)
    try:
        load_model(path)
    except UserError as err:
        assert str(path) in str(err)


@fuzz(100)
@given(text=st.one_of(st.text(max_size=200),
                      st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                                   lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c,
                                                                                       max_size=3),
                                   max_leaves=8).map(json.dumps)))
def test_training_config_reader(tmp_path, text):
    config = loaded_or_refused(tmp_path, text)
    if config is None:
        return
    assert "model" in config and isinstance(config["train"], dict)


JSON_VALUES = (st.none() | st.booleans() | st.integers(-3, 300) | st.floats(allow_nan=False) | st.text(max_size=4)
               | st.sampled_from([0.5, 1.5, 2.5, 1e10]))


#: what training can use of each numeric train key, written out here (not read from the code under test)
TRAIN_INTEGERS = {"epochs": 1, "batch_size": 1, "eval_batch_size": 1, "time_shift": 0, "channel_shift": 0}
TRAIN_POSITIVE = {"lr", "sigma_decay", "sigma_reference_epochs", "ce_scale"}
TRAIN_FRACTIONS = {"sigma_decay", "true_rate", "false_rate", "thinning"}


@fuzz(100)
@given(train=st.dictionaries(st.sampled_from(sorted(DEFAULT_TRAIN)), JSON_VALUES, max_size=4))
@example(train={"epochs": 3, "lr": 0.5, "time_shift": 0, "thinning": 1})  # loads: the usability checks run
def test_training_config_train_values(tmp_path, train):
    check_train_values(tmp_path, train)


@pytest.mark.parametrize("key", sorted(set(TRAIN_INTEGERS) | TRAIN_POSITIVE | TRAIN_FRACTIONS | {"lr_delay"}))
def test_each_train_key_at_edge_values(tmp_path, key):
    for value in (-1, 0, 0.5, 1, 2.5, 1e30, True, "1", None, [1]):
        check_train_values(tmp_path, {key: value})


def check_train_values(tmp_path, train):
    """``train`` is refused naming the file, or loads as values training can use."""
    model = {"neuron": NEURON, "layers": [{"type": "affine", "neurons": 2}]}
    config = loaded_or_refused(tmp_path, {"model": model, "train": train})
    if config is None:
        return
    assert config["train"]["loss"] == "voltage_ce"  # "auto" resolved for the affine readout
    for key, value in config["train"].items():  # what loads is what training can use
        if key == "loss":
            continue
        assert type(value) in (int, float) and np.isfinite(value) and value >= 0, (key, value)
        if key in TRAIN_INTEGERS:
            assert type(value) is int and value >= TRAIN_INTEGERS[key], (key, value)
        if key in TRAIN_POSITIVE:
            assert value > 0, (key, value)
        if key in TRAIN_FRACTIONS:
            assert value <= 1, (key, value)


DATA_KEYS = ["source", "train", "test", "dt", "pool", "duration", "per_class", "seed"]
DATA_VALUES = JSON_VALUES | st.sampled_from(["generated", "shd", "ssc", "a.h5", 0.004, 0.01, 1.4, 5, 7, 35, 700])


@fuzz(100)
@given(data=st.dictionaries(st.sampled_from(DATA_KEYS), DATA_VALUES, max_size=5))
def test_training_config_data_values(tmp_path, data):
    model = {"neuron": NEURON, "layers": [{"type": "dense", "neurons": 2}]}
    config = loaded_or_refused(tmp_path, {"model": model, "data": data})
    if config is None:
        return
    section = config["data"]  # what loads is what the data stack can use
    encoding = InputEncoding.from_settings(section)
    for key in ("dt", "duration"):
        assert type(getattr(encoding, key)) in (int, float) and np.isfinite(getattr(encoding, key))
    assert type(encoding.pool) is int and 700 % encoding.pool == 0 and encoding.steps >= 1
    if section.get("source", "generated") == "generated":
        assert all(type(section[k]) is int and section[k] >= 0 for k in ("per_class", "seed") if k in section)
    else:  # "shd" / "ssc" without paths read the files `data fetch` downloaded
        assert all(isinstance(section[k], str) for k in ("train", "test") if k in section)
        assert section["source"] in ("shd", "ssc") or {"train", "test"} <= set(section)
    assert check_data_section(section) == encoding


LAYER_VALUES = JSON_VALUES | st.sampled_from([[0, 5], [3, 1], [1, "x"], 0.5, 3, 4, 62, 63])
NEURON_VALUES = JSON_VALUES | st.sampled_from([0.01, 0.5, 1.0, 4.0, 2048])


@st.composite
def model_sections(draw):
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(sorted(LAYER_KEYS) + ["lstm"]))
        keys = st.sampled_from(sorted(LAYER_KEYS.get(kind, ("type",))) + ["bogus"])
        layer = {"type": kind, "neurons": draw(st.integers(1, 12)),
                 **draw(st.dictionaries(keys, LAYER_VALUES, max_size=3))}
        layers.append(layer)
    neuron = {**NEURON, **draw(st.dictionaries(st.sampled_from(sorted(NEURON_BOUNDS) + ["scale"]),
                                               NEURON_VALUES, max_size=2))}
    return {"neuron": neuron, "layers": layers}


@fuzz(100)
@given(model=model_sections())
def test_training_config_model_values(tmp_path, model):
    config = loaded_or_refused(tmp_path, {"model": model})
    if config is None:
        return
    # what loads builds, trains one step, runs and deploys without an exception from inside the blocks
    network = SpikingNetwork({**config["model"], "input_size": 3}).train()
    out = network((torch.rand(2, 3, 6) < 0.5).float())
    out.sum().backward()
    with torch.no_grad():
        assert network.eval()(torch.ones(1, 3, 6)).shape == (1, model["layers"][-1]["neurons"], 6)
    export_blocks(list(network.blocks), tmp_path / "net.h5")
    assert len(read_network(tmp_path / "net.h5").layers) == len(model["layers"])


OPTION_VALUES = (st.integers(-3, 800).map(str) | st.floats(allow_nan=True, allow_infinity=True).map(repr)
                 | st.text(max_size=4) | st.sampled_from(["0", "1", "-1", "nan", "inf", "0.02", "0.3", "25"]))


def _run_cli(argv, capsys):
    """The exit status of ``lava-convdelay ARGV``; user errors must be one line."""
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse: a value of the wrong type
        assert exit_.code == 2 and "lava-convdelay " + argv[0] + ": error: " in capsys.readouterr().err
        return 2
    err = capsys.readouterr().err
    if status == 2:
        assert err.count("\n") == 1 and err.startswith(f"lava-convdelay {argv[0]}: error: "), err
    return status


@pytest.fixture(scope="module")
def cli_network(tmp_path_factory):
    """A 28-input network recording its binning (dt 0.02, pool 25, 0.3 s) and classes, test data, input."""
    from factories import TOY_KEYS, toy_shd
    folder = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    model = SpikingNetwork({"input_size": 28, "neuron": NEURON, "layers": [
        {"type": "conv_delay_rec", "neurons": 6, "max_delay": 4}, {"type": "dense", "neurons": 3}]})
    export_blocks(list(model.blocks), folder / "net.h5", encoding=InputEncoding(0.02, 25, 0.3), class_names=TOY_KEYS)
    toy_shd(folder / "test.h5", 6, 1)
    np.save(folder / "in.npy", (np.random.default_rng(0).random((2, 28, 15)) < 0.3).astype(np.int8))
    return folder


@fuzz(60)
@given(options=st.dictionaries(st.sampled_from(["--samples", "--steps", "--rate", "--seed"]), OPTION_VALUES,
                               max_size=4), with_input=st.booleans())
def test_verify_options(cli_network, monkeypatch, capsys, options, with_input):
    import lava_convdelay.cli.lava as cli_lava

    def stub(model, spec, spikes):  # what reaches the comparison is a usable input
        assert spikes.ndim == 3 and spikes.shape[0] >= 1 and spikes.shape[1] == 28 and spikes.shape[2] >= 1
        assert set(np.unique(spikes)) <= {0, 1}
        return [(1.0, 5, 5, True)] * len(spec.layers), None
    monkeypatch.setattr(cli_lava, "spike_agreement", stub)
    argv = ["verify", str(cli_network / "net.h5")] + [x for kv in options.items() for x in kv]
    argv += ["--input", str(cli_network / "in.npy")] if with_input else []
    assert _run_cli(argv, capsys) in (0, 2)


@fuzz(60)
@given(options=st.dictionaries(st.sampled_from(["--samples", "--dt", "--pool", "--duration", "--backend"]),
                               OPTION_VALUES | st.sampled_from(["fixed", "lava,fixed", "float", ","]), max_size=4),
       allow=st.booleans())
def test_evaluate_options(cli_network, monkeypatch, capsys, options, allow):
    import lava_convdelay.app.evaluation as evaluation
    import lava_convdelay.cli.evaluate as evaluate_module

    def stub(test, model, spec, backends, samples=None, progress=True):
        assert samples is None or (type(samples) is int and samples >= 1)
        assert backends and set(backends) <= {"fixed", "lava"} and len(test) >= 1
        assert test[0][0].shape == (spec.input_size, test.encoding.steps) and test.encoding.steps >= 1
        return evaluation.Evaluation(len(test), {b: 0.5 for b in backends})
    monkeypatch.setattr(evaluate_module, "evaluate", stub)
    argv = ["evaluate", str(cli_network / "net.h5"), "--data", str(cli_network / "test.h5")]
    argv += [x for kv in options.items() for x in kv] + (["--allow-other-binning"] if allow else [])
    assert _run_cli(argv, capsys) in (0, 2)


@fuzz(40)
@given(shape=st.sampled_from([(28, 15), (28, 0), (0, 28, 15), (2, 28, 15), (28, 10), (14, 15), (2, 2, 28, 15)]),
       allow=st.booleans(), output=st.sampled_from(["o.npy", ".", "in.npy/o.npy"]))
def test_simulate_options(cli_network, tmp_path, monkeypatch, capsys, shape, allow, output):
    from sim.cpu.runner import LavaRunner
    from sim.samples import SimResult

    def stub(self, spikes, *args, **kwargs):
        assert spikes.ndim == 3 and spikes.shape[0] >= 1 and spikes.shape[2] >= 1
        return [SimResult(output=np.zeros((3, spikes.shape[2]), np.uint8)) for _ in spikes]
    monkeypatch.setattr(LavaRunner, "run_many", stub)
    np.save(tmp_path / "in.npy", np.zeros(shape, np.int8))
    argv = ["simulate", str(cli_network / "net.h5"), "--input", str(tmp_path / "in.npy"),
            "-o", str(tmp_path / output)] + (["--allow-other-binning"] if allow else [])
    status = _run_cli(argv, capsys)
    assert status == (0 if shape in ((28, 15), (2, 28, 15)) and output == "o.npy" or
                      shape == (28, 10) and allow and output == "o.npy" else 2)


@pytest.mark.parametrize("text", ['{"model": 1}', '{"model": {}, "train": 5}', '{"model": {}, "data": []}', "[]"])
def test_training_config_sections_must_be_mappings(tmp_path, text):
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(UserError, match="config.json: "):
        load_config(path)


@fuzz(40)
@given(blob=st.binary(max_size=2048), kind=st.sampled_from(["raw", "npy"]))
def test_spike_input_reader(tmp_path, blob, kind):
    """40 cases: .npy spike inputs for simulate/verify/deploy."""
    from lava_convdelay.app import load_spikes
    path = tmp_path / "in.npy"
    if kind == "raw":
        path.write_bytes(blob)
    else:
        values = np.frombuffer(blob[: len(blob) // 8 * 8], dtype=np.float64)
        np.save(path, values.reshape(-1, 1) if values.size % 2 else values.reshape(2, -1))
    try:
        spikes = load_spikes(path, 2)
    except UserError as err:
        assert str(path) in str(err)
        return
    assert spikes.ndim == 3 and spikes.shape[1] == 2 and set(np.unique(spikes)) <= {0, 1}


@fuzz(40)
@given(blob=st.binary(max_size=4096))
def test_wav_reader(tmp_path, blob):
    """40 cases: recordings for encode (valid headers with random payloads and junk)."""
    import io

    from scipy.io import wavfile

    from lava_convdelay.data.audio import read_wav
    path = tmp_path / "in.wav"
    if len(blob) % 2 == 0 and blob:
        buffer = io.BytesIO()
        wavfile.write(buffer, 16000, np.frombuffer(blob, dtype=np.int16))
        path.write_bytes(buffer.getvalue())
    else:
        path.write_bytes(blob)
    try:
        audio, rate = read_wav(path)
    except UserError as err:
        assert str(path) in str(err)
        return
    assert audio.ndim == 1 and rate == 16000 and audio.size >= 160
