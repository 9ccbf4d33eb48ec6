"""Fuzz tests of the file entry points (issue 27): HDF5 structure (links, external
storage, virtual datasets, types, declared shapes, filters) in network files,
SHD-format datasets and NIR graphs; NIR graphs' values and metadata; .npy /
.npz spike inputs; and the binning rule on hostile times.

Every case either reads as a valid object or is refused with a one-line
UserError naming the file; never another exception, never a hang. A file that
reaches outside itself (external link or storage, a virtual dataset) or holds a
soft link, a complex / compound / reference type or a declared shape beyond the
limits is always refused. Cases are derandomized (the same every run); the
outcome counts of a run are in docs/errors.md ("Fuzzed entry points"), printed
by ``pytest tests/test_fuzz_files.py -s -p no:xdist``.
"""
from __future__ import annotations

import collections
import io
import math
import struct

import h5py
import nir
import numpy as np
import pytest
import torch
from factories import make_spec, toy_shd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.lib import format as npy_format

from lava_convdelay.app.spike_files import load_spikes
from lava_convdelay.data import SHDDataset, bin_spikes, read_shd
from lava_convdelay.errors import UserError
from netx_export.nir_import import graph_to_spec, read_nir
from netx_export.reader import read_network
from netx_export.writer import write_network

TALLY: collections.Counter = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def report_tally():
    yield
    for (test, outcome), count in sorted(TALLY.items()):
        print(f"fuzz tally: {test}: {outcome} {count}")


def fuzz(examples):
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def refused_or(test: str, path, read, hostile: str | None):
    """``read(path)``, or None where refused with one line naming ``path``; a hostile
    structure (named by ``hostile``) must be refused."""
    try:
        value = read(path)
    except UserError as err:
        assert str(path) in str(err) and "\n" not in str(err), str(err)
        TALLY[test, "refused (hostile)" if hostile else "refused"] += 1
        return None
    assert hostile is None, f"{hostile} was accepted"
    TALLY[test, "read"] += 1
    return value


# --------------------------------------------------------------------------- HDF5 structure

#: edits after which the file must be refused, whatever the reader
HOSTILE = {"soft link", "soft loop", "dangling soft link", "external link", "external storage", "virtual",
           "huge shape", "complex", "compound", "reference", "committed type", "complex attribute",
           "unknown filter"}
#: edits that leave the data as it was (a reader must read the file as before)
SAME_DATA = {"gzip", "shuffle + gzip", "lzf", "fletcher32"}
EDITS = sorted(HOSTILE | SAME_DATA | {"fill value only", "enum", "vlen", "string for number", "number for string",
                                      "group for dataset", "hard-link cycle", "null dataspace", "extra attribute",
                                      "float16", "big-endian"})


def _objects(path, kind):
    names = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, kind) else None)
    return names


def edit_hdf5(path, target: str, edit: str, secret) -> None:
    """Apply ``edit`` to dataset ``target`` of ``path``."""
    with h5py.File(path, "a") as f:
        old = f[target]
        shape, dtype = old.shape, old.dtype
        try:  # an earlier edit may have left data that cannot (or must not) be read
            assert old.size is not None and old.size <= 1 << 16 and not old.external and not old.is_virtual
            data = old[()]
        except (AssertionError, OSError):
            shape, dtype, data = (3,), np.dtype("f4"), np.zeros(3, np.float32)
        parent = target.rpartition("/")[0] or "/"

        def recreate(**kwargs):
            del f[target]
            f.create_dataset(target, **kwargs)
        if edit == "soft link":
            f.move(target, target + "_real")
            f[target] = h5py.SoftLink("/" + target + "_real")
        elif edit == "soft loop":
            del f[target]
            f[target] = h5py.SoftLink("/" + target)
        elif edit == "dangling soft link":
            del f[target]
            f[target] = h5py.SoftLink("/no/such/object")
        elif edit == "external link":
            del f[target]
            f[target] = h5py.ExternalLink(str(secret), "/x")
        elif edit == "external storage":
            recreate(shape=shape if shape else (1,), dtype="i1", external=[(str(secret), 0, h5py.h5f.UNLIMITED)])
        elif edit == "virtual":
            layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
            layout[...] = h5py.VirtualSource(str(secret), "/x", shape=(4,))
            del f[target]
            f.create_virtual_dataset(target, layout)
        elif edit == "huge shape":
            recreate(shape=(1 << 15, 1 << 15, 1 << 10), dtype="f4", chunks=(1, 64, 64), compression="gzip")
        elif edit == "complex":
            recreate(data=np.asarray(data).astype(np.complex64) if dtype.kind in "iufb" else np.complex64(1j))
        elif edit == "compound":
            recreate(data=np.zeros(shape or (), [("a", "i4"), ("b", "f4")]))
        elif edit == "reference":
            recreate(data=f["/"].ref, dtype=h5py.ref_dtype)
        elif edit == "committed type":
            f[parent + "/named_type"] = np.dtype("f4")
        elif edit == "complex attribute":
            f[target].attrs["note"] = np.complex64(1 + 2j)
        elif edit == "unknown filter":  # an unregistered filter id (optional, so that HDF5 can create it)
            size = max(1, int(np.prod(shape or (1,))))
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_chunk((size,))
            dcpl.set_filter(31999, h5py.h5z.FLAG_OPTIONAL)
            del f[target]
            h5py.h5d.create(f.id, target.encode(), h5py.h5t.NATIVE_FLOAT, h5py.h5s.create_simple((size,)), dcpl=dcpl)
        elif edit in SAME_DATA:
            if not shape or h5py.check_string_dtype(dtype) is not None or dtype.kind == "O":
                return  # scalars and variable-length data cannot be chunked the same way
            options = {"gzip": dict(compression="gzip"), "shuffle + gzip": dict(compression="gzip", shuffle=True),
                       "lzf": dict(compression="lzf"), "fletcher32": dict(fletcher32=True)}[edit]
            recreate(data=data, chunks=True, **options)
        elif edit == "fill value only":
            recreate(shape=shape, dtype=dtype if dtype.kind != "O" else "f4")
        elif edit == "enum":
            recreate(data=np.zeros(shape or (), "i1"), dtype=h5py.enum_dtype({"A": 0, "B": 1}, basetype="i1"))
        elif edit == "vlen":
            recreate(data=np.array([np.arange(2.0)] * 2 + [None], dtype=h5py.vlen_dtype(np.float32))[:-1])
        elif edit == "string for number":
            recreate(data="12")
        elif edit == "number for string":
            recreate(data=np.float64(3))
        elif edit == "group for dataset":
            del f[target]
            f.create_group(target)
        elif edit == "hard-link cycle":
            f[parent + "/cycle"] = f[parent]
        elif edit == "null dataspace":
            recreate(data=h5py.Empty("f4"))
        elif edit == "extra attribute":
            f[target].attrs["note"] = "hello"
        elif edit == "float16":
            if dtype.kind in "iuf":
                recreate(data=np.asarray(data).astype(np.float16))
        elif edit == "big-endian":
            if dtype.kind in "iuf":
                recreate(data=np.asarray(data).astype(np.asarray(data).dtype.newbyteorder(">")))
        else:
            raise AssertionError(edit)


def apply_edits(path, secret, data, most: int) -> list[str]:
    """One to ``most`` different edits of ``path``, each on a dataset no earlier edit made
    or changed (so that a later edit cannot undo a hostile one); the edits applied."""
    edited: set[str] = set()
    applied = []
    for edit in data.draw(st.lists(st.sampled_from(EDITS), min_size=1, max_size=most, unique=True)):
        before = set(_objects(path, h5py.Dataset))
        targets = sorted(before - edited)
        if not targets:
            break
        target = data.draw(st.sampled_from(targets))
        edit_hdf5(path, target, edit, secret)
        edited |= {target} | (set(_objects(path, h5py.Dataset)) - before)
        applied.append(edit)
    return applied


@pytest.fixture(scope="module")
def secret(tmp_path_factory):
    path = tmp_path_factory.mktemp("secret") / "secret.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(4, dtype=np.float32)
    return path


@pytest.fixture(scope="module")
def good_network(tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "good.h5"
    write_network(make_spec("stack", 0), path)
    return path


@fuzz(60)
@given(data=st.data())
def test_network_file_structure(tmp_path, good_network, secret, data):
    """60 cases: one to three structural edits of a network file of every layer type."""
    path = tmp_path / "net.h5"
    path.write_bytes(good_network.read_bytes())
    applied = apply_edits(path, secret, data, 3)
    hostile = next((e for e in applied if e in HOSTILE), None)
    spec = refused_or("network files", path, read_network, hostile)
    if spec is not None and set(applied) <= SAME_DATA:
        original = read_network(good_network)
        assert all(np.array_equal(a.weight, b.weight) for a, b in zip(spec.layers, original.layers))
        TALLY["network files", "read, same network after recompression"] += 1


@pytest.fixture(scope="module")
def good_dataset(tmp_path_factory):
    return toy_shd(tmp_path_factory.mktemp("shd") / "good.h5", 6, 0)


@fuzz(120)
@given(data=st.data())
def test_dataset_file_structure(tmp_path, good_dataset, secret, data):
    """120 cases: one or two structural edits of an SHD-format file; what reads, bins."""
    path = tmp_path / "d.h5"
    path.write_bytes(good_dataset.read_bytes())
    applied = apply_edits(path, secret, data, 2)
    hostile = next((e for e in applied if e in HOSTILE), None)
    dataset = refused_or("dataset files", path, lambda p: SHDDataset(p, dt=0.01, pool=5, duration=0.3), hostile)
    if dataset is not None:
        for i in range(len(dataset)):
            x, y = dataset[i]
            assert x.shape == (140, 30) and set(x.unique().tolist()) <= {0.0, 1.0} and y >= 0


@pytest.fixture(scope="module")
def good_nir(tmp_path_factory):
    from test_nir import recurrent_graph
    path = tmp_path_factory.mktemp("nir") / "good.nir"
    graph = recurrent_graph()
    graph.metadata = {"dt": 0.001, "class_names": np.array([b"a", b"b", b"c"])}
    nir.write(path, graph)
    return path


@fuzz(40)
@given(data=st.data())
def test_nir_file_structure(tmp_path, good_nir, secret, data):
    """40 cases: one or two structural edits of a NIR file, read by import-nir's reader."""
    path = tmp_path / "g.nir"
    path.write_bytes(good_nir.read_bytes())
    applied = apply_edits(path, secret, data, 2)
    hostile = next((e for e in applied if e in HOSTILE), None)
    result = refused_or("NIR files", path, read_nir, hostile)
    if result is not None:
        assert result.spec.validate() is not None


@fuzz(60)
@given(cut=st.floats(0.0, 0.999), flip=st.integers(0, 1 << 20), kind=st.sampled_from(["network", "dataset", "nir"]))
def test_truncated_and_flipped_hdf5(tmp_path, good_network, good_dataset, good_nir, cut, flip, kind):
    """60 cases: truncated files and files with one byte changed, for the three readers."""
    source, read = {"network": (good_network, read_network), "dataset": (good_dataset, read_shd),
                    "nir": (good_nir, read_nir)}[kind]
    blob = bytearray(source.read_bytes())
    if flip % 2:
        blob[flip % len(blob)] ^= 0xFF
    else:
        blob = blob[: int(len(blob) * cut)]
    path = tmp_path / "f.h5"
    path.write_bytes(bytes(blob))
    refused_or(f"{ {'nir': 'NIR'}.get(kind, kind)} files, damaged bytes", path, read, None)


# --------------------------------------------------------------------------- NIR values and metadata

ODD_VALUES = [None, "x", b"x", "", 0, -1, 1e30, float("nan"), float("inf"), True, 1j, 0.5,
              np.array([]), np.zeros((2, 2)), np.array(["a", "b"]), np.array([1 + 1j]), np.array([None], object),
              np.zeros(3), np.arange(3) - 1.0, [1, 2], {"a": 1}]


@fuzz(150)
@given(data=st.data())
def test_nir_graph_values(data):
    """150 cases: graph metadata, node metadata and node parameters of odd types and values."""
    from test_nir import recurrent_graph
    graph = recurrent_graph(type_check=False)
    graph.metadata = {"dt": 0.001}
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(["graph metadata", "node metadata", "node field"]))
        value = data.draw(st.sampled_from(ODD_VALUES))
        if where == "graph metadata":
            key = data.draw(st.sampled_from(["dt", "class_names", "lava_convdelay.input.dt",
                                             "lava_convdelay.input.pool", "lava_convdelay.input.duration"]))
            graph.metadata[key] = value
        elif where == "node metadata":
            node = data.draw(st.sampled_from(["d", "rec", "lif"]))
            graph.nodes[node].metadata[data.draw(st.sampled_from(["maxDelay", "convKernel", "vThMant"]))] = value
        else:
            node = data.draw(st.sampled_from(["w", "lif", "d", "rec"]))
            fields = {"w": ["weight"], "rec": ["weight"], "d": ["delay"],
                      "lif": ["tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "w_in"]}[node]
            setattr(graph.nodes[node], data.draw(st.sampled_from(fields)), value)
    try:
        result = graph_to_spec(graph, "g.nir")
    except UserError as err:
        assert str(err).startswith("g.nir") and "\n" not in str(err), str(err)
        TALLY["NIR graph values", "refused"] += 1
        return
    spec = result.spec.validate()
    assert spec.input_size == 2 and spec.output_size == 3
    TALLY["NIR graph values", "read"] += 1


# --------------------------------------------------------------------------- .npy / .npz spike inputs

DESCRS = ["|i1", "<i8", ">i4", "<f8", "<f2", "|b1", "|u1", "<c8", "<U1", "|S2", "|V4", "|O", "<M8[s]",
          [("a", "<i4")], [("a", "|i1"), ("b", "<f4")]]
SHAPES = [(3, 5), (2, 3, 5), (3, 0), (0, 3, 5), (5,), (), (3, 5, 1, 1), (1 << 40, 3, 5), (3, 1 << 62), (4, 5)]


def _npy(shape, descr, data: bytes, version) -> bytes:
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    (npy_format.write_array_header_1_0 if version == 1 else npy_format.write_array_header_2_0)(buffer, header)
    return buffer.getvalue() + data


@fuzz(150)
@given(kind=st.sampled_from(["header", "saved", "binary", "npz", "bytes"]), shape=st.sampled_from(SHAPES),
       descr=st.sampled_from(DESCRS), length=st.integers(0, 200), version=st.sampled_from([1, 2]),
       values=st.lists(st.sampled_from([0, 1, 2, -1, 0.5, float("nan"), float("inf")]), min_size=15, max_size=15),
       blob=st.binary(max_size=300))
def test_spike_inputs(tmp_path, kind, shape, descr, length, version, values, blob):
    """150 cases: .npy headers of any shape and dtype over any amount of data, arrays of
    odd values, .npz archives and raw bytes, as simulate / deploy / verify's --input."""
    path = tmp_path / "in.npy"
    if kind == "header":
        path.write_bytes(_npy(shape, descr, blob[:length], version))
    elif kind == "saved":
        np.save(path, np.array(values, np.float64).reshape(3, 5) if len(shape) != 3 else
                np.array(values * 2, np.float64).reshape(2, 3, 5))
    elif kind == "binary":  # 0/1 in a dtype from the header's list, in a shape from SHAPES (small ones)
        dtype = np.dtype(descr) if isinstance(descr, str) and descr[1] in "iufb" else np.dtype("i1")
        small = shape if np.prod(shape, dtype=object) <= 100 else (3, 5)
        np.save(path, (np.arange(int(np.prod(small))) % 2).reshape(small).astype(dtype))
    elif kind == "npz":
        buffer = io.BytesIO()
        np.savez(buffer, x=np.zeros((3, 5)))
        path.write_bytes(buffer.getvalue())
    else:
        path.write_bytes(blob)
    spikes = refused_or("spike inputs", path, lambda p: load_spikes(p, 3), "npz" if kind == "npz" else None)
    if spikes is not None:
        assert spikes.dtype == np.int8 and spikes.ndim == 3 and spikes.shape[1] == 3 and spikes.shape[2] >= 1
        assert set(np.unique(spikes).tolist()) <= {0, 1}


# --------------------------------------------------------------------------- the binning rule

def _rule(seconds: float, dt: float) -> float:
    """docs/hdf5-format.md's rule, written with struct's float32 (not the toolkit's code)."""
    try:
        stored = struct.unpack("<f", struct.pack("<f", seconds))[0]
    except OverflowError:  # beyond float32: infinitely late
        return math.inf
    return math.floor(stored / dt * (1 + 1e-6))


@fuzz(150)
@given(dt=st.sampled_from([0.01, 0.004, 0.001, 0.02, 0.0137]), pool=st.sampled_from([1, 5, 7]),
       duration=st.sampled_from([0.05, 0.3, 1.0]), min_spikes=st.integers(1, 3),
       times=st.lists(st.one_of(st.floats(0, 2, allow_nan=False), st.integers(0, 100).map(lambda m: m * 0.01),
                                st.integers(0, 100).map(lambda m: m * 0.01 * (1 - 1e-6)),
                                st.sampled_from([1e9, 3.4e38, 1e300])), max_size=40))
def test_binning_matches_the_documented_rule(dt, pool, duration, min_spikes, times):
    """150 cases: times on and around bin edges (and absurdly late ones) bin as the rule
    written out independently here says."""
    units = np.arange(len(times)) % 7 * 100
    out = bin_spikes(np.array(times, np.float64), units, dt, pool, duration, min_spikes=min_spikes)
    steps = round(duration / dt)
    counts = np.zeros((700 // pool, steps), np.int64)
    for t, u in zip(times, units):
        k = _rule(t, dt)
        if k < steps:
            counts[u // pool, int(k)] += 1
    assert torch.equal(out, torch.as_tensor(counts >= min_spikes, dtype=torch.float32))
    TALLY["binning rule", "equal to the rule"] += 1
