"""`import lava_convdelay` keeps the multiprocessing start method a script chose;
Lava's runtime is imported where Lava runs (sim/), and works there whether or
not the default method was already fixed."""
import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300)


def test_training_side_imports_keep_a_spawn_start_method():
    result = _run("""
        import multiprocessing
        multiprocessing.set_start_method("spawn")
        import torch
        import lava_convdelay, lava_convdelay.cli, lava_convdelay.training, lava_convdelay.app
        import netx_export.exporter, netx_export.reader, sim.fixed_point
        from lava_convdelay.nn.model import SpikingNetwork
        model = SpikingNetwork({"input_size": 4, "neuron": {"threshold": 1.0, "current_decay": 0.2,
                                "voltage_decay": 0.1}, "layers": [{"type": "conv_delay_rec", "neurons": 6}]})
        model(torch.ones(1, 4, 5))
        print("method", multiprocessing.get_start_method())
        try:  # Lava itself cannot run under 'spawn': a named error, the method left alone
            import sim.cpu.runner
        except Exception as err:
            print(type(err).__name__, err, multiprocessing.get_start_method())
    """)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "method spawn"
    assert lines[1].startswith("LavaStartMethodError") and "set 'spawn'" in lines[1] and lines[1].endswith(" spawn")


def test_lava_runs_where_the_default_method_was_already_fixed():
    # creating a pool, a queue or DataLoader workers fixes the default ('fork'); Lava's own
    # import used to fail then with "context has already been set"
    result = _run("""
        import multiprocessing
        multiprocessing.get_start_method()  # fixes the default method, as a Pool would
        import numpy as np
        from netx_export.spec import CubaParams, LayerSpec, NetworkSpec
        from sim.cpu.runner import LavaRunner
        from sim.fixed_point import simulate
        spec = NetworkSpec(3, [LayerSpec("dense", np.array([[100, 0, 0], [0, 100, 100]]), CubaParams(1024, 1024, 64))])
        spikes = (np.random.default_rng(0).random((3, 20)) < 0.5).astype(np.int8)
        out = LavaRunner(spec).run(spikes).output
        assert out.sum() > 0 and (out == simulate(spec, spikes).output).all()
        print("lava ok", multiprocessing.get_start_method())
    """)
    assert result.returncode == 0, result.stderr
    assert "lava ok fork" in result.stdout

