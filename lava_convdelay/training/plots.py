"""PNG plots of a run: training curves, learned delays, spike rasters."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from lava_convdelay.atomic import atomic_output  # noqa: E402


def _save(fig, path: Path) -> Path:
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def curves_figure(history: list[dict]):
    """The figure of :func:`plot_curves`: loss (with sigma on a twin axis, whose
    labels the constrained layout keeps clear of the accuracy panel) and accuracy."""
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
    fig.get_layout_engine().set(wspace=0.08)
    ax_loss.plot(epochs, [h["loss"] for h in history], marker="o")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
    ax_sigma = ax_loss.twinx()
    ax_sigma.plot(epochs, [h["sigma"] for h in history], color="grey", linestyle="--")
    ax_sigma.set_ylabel("sigma (steps)", color="grey")
    ax_acc.plot(epochs, [100 * h["test_accuracy"] for h in history], marker="o", color="C1")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="accuracy", ylim=(0, 100))
    return fig


def plot_curves(history: list[dict], path: Path) -> Path:
    """Loss and test accuracy per epoch (with sigma on a twin axis)."""
    return _save(curves_figure(history), path)


def plot_delays(model, path: Path, initial: list[torch.Tensor] | None = None) -> Path | None:
    """Histogram of each delay layer's integer recurrent delays; ``initial``
    (``model.integer_delays()`` before training) is drawn as an outline."""
    blocks = model.delay_blocks()
    if not blocks:
        return None
    fig, axes = plt.subplots(1, len(blocks), figsize=(4 * len(blocks), 3), squeeze=False)
    for i, (ax, block, delays) in enumerate(zip(axes[0], blocks, model.integer_delays())):
        index = list(model.blocks).index(block) + 1
        bins = range(block.axonal_delay.max_delay + 2)
        ax.hist(delays.cpu().numpy(), bins=bins, color="C2", label="trained")
        if initial is not None:
            ax.hist(initial[i].cpu().numpy(), bins=bins, histtype="step", color="k", label="initial")
            ax.legend(fontsize=7)
        ax.set(title=f"layer {index} ({type(block).__name__})", xlabel="recurrent delay (steps)",
               ylabel="neurons")
    return _save(fig, path)


def plot_raster(layers: list[torch.Tensor], path: Path, title: str = "",
                voltage: torch.Tensor | None = None) -> Path:
    """Spike raster, one panel per layer; ``layers`` are ``[neurons, time]``,
    the first being the input; ``voltage`` ``[neurons, time]`` (a non-spiking
    output layer, SLAYER units) adds a panel of its traces."""
    panels = len(layers) + (voltage is not None)
    fig, axes = plt.subplots(panels, 1, figsize=(8, 1.8 * panels), sharex=True, squeeze=False)
    if voltage is not None:
        ax = axes[-1, 0]
        ax.plot(voltage.T.numpy(), linewidth=0.8)
        ax.set_ylabel(f"layer {len(layers)}\nvoltage")
    for i, (ax, spikes) in enumerate(zip(axes[:, 0], layers)):
        neuron, step = torch.nonzero(torch.as_tensor(spikes), as_tuple=True)
        ax.scatter(step.numpy(), neuron.numpy(), s=1, marker="|", color="k")
        ax.set_ylabel(("input" if i == 0 else f"layer {i}") + "\nneuron")
        ax.set_ylim(-0.5, spikes.shape[0] - 0.5)
    axes[-1, 0].set_xlabel("time step")
    if title:
        axes[0, 0].set_title(title)
    return _save(fig, path)


def plot_dataset(dataset, path: Path, per_class: int = 2) -> Path:
    """Spike rasters of the first ``per_class`` samples of every class."""
    labels = [int(dataset.data["labels"][i]) for i in range(len(dataset))]
    classes = sorted(set(labels))
    picks = [[i for i, y in enumerate(labels) if y == c][:per_class] for c in classes]
    fig, axes = plt.subplots(len(classes), per_class, figsize=(2.6 * per_class, 1.1 * len(classes)),
                             sharex=True, sharey=True, squeeze=False)
    for row, (c, idx) in enumerate(zip(classes, picks)):
        for col in range(per_class):
            ax = axes[row, col]
            if col < len(idx):
                x, _ = dataset[idx[col]]
                neuron, step = torch.nonzero(x, as_tuple=True)
                ax.scatter(step.numpy() * dataset.dt, neuron.numpy(), s=0.2, marker=".", color="k")
            ax.set_yticks([])
            if col == 0:
                name = dataset.keys[c] if dataset.keys else str(c)
                ax.set_ylabel(name, rotation=0, ha="right", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    return _save(fig, path)


def plot_run(out: Path, model, test_set, history: list[dict],
             initial_delays: list[torch.Tensor] | None = None) -> list[Path]:
    """All plots of a finished run into ``out/plots``."""
    plots = out / "plots"
    written = [plot_curves(history, plots / "curves.png")]
    delays = plot_delays(model, plots / "delays.png", initial_delays)
    if delays is not None:
        written.append(delays)
    x, label = test_set[0]
    model.eval()
    with torch.no_grad():
        layers = [s[0].cpu() for s in model(x[None], all_layers=True)]
    voltage = layers.pop() if model.readout == "voltage_sum" else None
    names = getattr(test_set, "keys", None)  # the dataset's class names, where it has them
    name = f"{names[int(label)]} (class {int(label)})" if names and int(label) < len(names) else f"class {int(label)}"
    written.append(plot_raster([x] + layers, plots / "raster.png", title=f"test sample 0: {name}",
                               voltage=voltage))
    return written
