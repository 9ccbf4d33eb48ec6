"""The run's plots: the training curves' labels stay clear of each other, and the
raster names its sample's class."""
import matplotlib.pyplot as plt
import torch
from factories import TRAIN_NEURON, toy_shd

from lava_convdelay.data import SHDDataset
from lava_convdelay.nn.model import SpikingNetwork
from lava_convdelay.training import plots

HISTORY = [{"epoch": e + 1, "loss": 2.5 / (e + 1), "sigma": 10 * 0.9**e, "test_accuracy": 0.3 + 0.02 * e}
           for e in range(30)]


def _texts(ax, which):
    """The y label and y tick labels of ``ax`` that are drawn."""
    axis = ax.yaxis
    ticks = [t.label2 if which == "right" else t.label1 for t in axis.get_major_ticks()]
    return [axis.label] + [t for t in ticks if t.get_visible() and t.get_text()]


def test_the_sigma_axis_labels_do_not_overlap_the_accuracy_panel(tmp_path, monkeypatch):
    """Once, "sigma (steps)" on the loss panel's twin axis ran into "test accuracy (%)"."""
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or path)
    plots.plot_curves(HISTORY, tmp_path / "curves.png")
    fig = figures[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    loss, sigma = [ax for ax in fig.axes if ax.get_ylabel() in ("training loss", "sigma (steps)")]
    accuracy = next(ax for ax in fig.axes if ax.get_ylabel() == "test accuracy (%)")
    right = [t.get_window_extent(renderer) for t in _texts(sigma, "right")]
    left = [t.get_window_extent(renderer) for t in _texts(accuracy, "left")]
    assert len(right) > 3 and len(left) > 3
    assert max(box.x1 for box in right) < min(box.x0 for box in left)
    plt.close(fig)


def test_the_raster_names_the_class_of_its_sample(tmp_path, monkeypatch):
    toy_shd(tmp_path / "test.h5", 3, 0)
    data = SHDDataset(tmp_path / "test.h5", duration=0.3)
    titles = []
    monkeypatch.setattr(plots, "plot_raster", lambda layers, path, title="", voltage=None: titles.append(title))
    torch.manual_seed(0)
    model = SpikingNetwork({"input_size": 140, "neuron": TRAIN_NEURON, "layers": [{"type": "dense", "neurons": 3}]})
    plots.plot_run(tmp_path, model, data, HISTORY[:2])
    assert data.keys[data[0][1]] == "low" and titles == ["test sample 0: low (class 0)"]
