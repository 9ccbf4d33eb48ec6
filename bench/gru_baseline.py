"""A non-spiking reference: a GRU on the very same binned spike inputs.

Not a product feature: it tells the results table how much the data allow, so
that every spiking result is read against it. Its own recipe (2 layers of 128
units, AdamW 3e-3, cosine schedule, time shifts of up to ±10 steps, 40
epochs, batch 16) reads the class from the time-mean of its per-step softmax;
same train/test split as the spiking models, seeded the same way.
"""
from __future__ import annotations

import time

import torch

from lava_convdelay.training.augment import augment_spikes

RECIPE = {"hidden": 128, "layers": 2, "lr": 3e-3, "weight_decay": 1e-2, "epochs": 40, "batch_size": 16,
          "time_shift": 10}


class GRUClassifier(torch.nn.Module):
    """``[B, channels, T]`` spikes -> ``[B, classes, T]`` per-step logits."""

    def __init__(self, channels: int, classes: int, hidden: int, layers: int):
        super().__init__()
        self.gru = torch.nn.GRU(channels, hidden, num_layers=layers, batch_first=True)
        self.out = torch.nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(x.transpose(1, 2))
        return self.out(h).transpose(1, 2)

    @staticmethod
    def class_probabilities(logits: torch.Tensor) -> torch.Tensor:
        """Time-mean of the per-step softmax, ``[B, classes]``."""
        return torch.softmax(logits, dim=1).mean(-1)


def _stack(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.stack([dataset[i][0] for i in range(len(dataset))]).float()
    y = torch.tensor([int(dataset[i][1]) for i in range(len(dataset))])
    return x, y


def train_gru(train_set, test_set, seed: int, epochs: int | None = None) -> dict:
    """Train the reference on ``train_set``; ``{"acc_float": test accuracy, ...}``."""
    recipe = dict(RECIPE, epochs=epochs or RECIPE["epochs"])
    torch.manual_seed(seed)
    x_train, y_train = _stack(train_set)
    x_test, y_test = _stack(test_set)
    classes = int(max(y_train.max(), y_test.max())) + 1
    model = GRUClassifier(x_train.shape[1], classes, recipe["hidden"], recipe["layers"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    batches = -(-len(x_train) // recipe["batch_size"])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, recipe["epochs"] * batches)
    start = time.perf_counter()
    for _ in range(recipe["epochs"]):
        model.train()
        for index in torch.randperm(len(x_train)).split(recipe["batch_size"]):
            x = augment_spikes(x_train[index], time_shift=recipe["time_shift"])
            probabilities = GRUClassifier.class_probabilities(model(x))
            loss = torch.nn.functional.nll_loss(torch.log(probabilities + 1e-9), y_train[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    with torch.no_grad():
        predicted = GRUClassifier.class_probabilities(model(x_test)).argmax(1)
    return {"seed": seed, "acc_float": float((predicted == y_test).float().mean()),
            "recurrent_params": sum(p.numel() for name, p in model.gru.named_parameters() if "weight_hh" in name),
            "seconds_per_epoch": (time.perf_counter() - start) / recipe["epochs"],
            "recipe": recipe}
