"""Interop with snnTorch through NIR, both ways (bench/nir_interop.py measures it at
larger size): an snnTorch recurrent CUBA-LIF network exported by snnTorch runs on
Lava, and networks of this project run in snnTorch neurons."""
import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("snntorch")
pytest.importorskip("nirtorch")

_spec = importlib.util.spec_from_file_location(
    "nir_interop", Path(__file__).resolve().parents[1] / "bench" / "nir_interop.py")
interop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(interop)

from factories import make_spec, random_spikes  # noqa: E402


def test_snntorch_network_runs_on_lava_as_its_nir_graph_states():
    """On Lava (= the fixed-point simulator, checked inside) the imported network spikes
    exactly as the graph run in snnTorch neurons (reset at the spike, as the graph's
    CubaLIF states); snnTorch's own simulation is that graph with the recurrent layer's
    reset one step late (its RSynaptic), hence the lower agreement with it."""
    result = interop.snntorch_to_lava(samples=2, steps=40, on_grid=True)
    assert result["notes"] == [] and result["types"] == ["dense_rec", "dense"]
    assert result["lava_vs_graph_in_snntorch"]["equal"] == 1.0
    assert result["lava_vs_graph_in_snntorch"]["spikes"][0] > 20
    assert result["snntorch_vs_graph_with_delayed_reset"]["equal"] == 1.0
    assert result["lava_vs_snntorch_output"]["equal"] < 1.0


@pytest.mark.parametrize("name", ["conv k5 C2", "stack"])
def test_networks_of_this_project_run_in_snntorch(name):
    """Conv and delayed recurrences, feed-forward delays: snnTorch's float neurons against
    Lava's fixed point (truncated decays) on the same NIR graph."""
    spec = make_spec(name, 0)
    result = interop.lava_to_snntorch(spec, random_spikes(0, spec.input_size, 3, 60))
    assert result["output"]["spikes"][0] > 100
    assert result["output"]["equal"] >= 0.99
