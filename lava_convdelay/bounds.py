"""Allowed values of the numbers users give (config files, command-line
options), and the one check that refuses anything else with a message naming
where the value came from."""
from __future__ import annotations

import math
from typing import NamedTuple

from lava_convdelay.errors import UserError


class Bounds(NamedTuple):
    """An integer or a (finite) number in a range; ``True``/``False`` never count as numbers."""

    integer: bool
    low: float
    high: float | None = None
    low_allowed: bool = True
    high_allowed: bool = True

    def allows(self, value) -> bool:
        # bool is an int to isinstance, but `"epochs": true` is a mistake
        if isinstance(value, bool) or not isinstance(value, int if self.integer else (int, float)):
            return False
        if not math.isfinite(value):
            return False
        low_ok = value >= self.low if self.low_allowed else value > self.low
        high_ok = self.high is None or (value <= self.high if self.high_allowed else value < self.high)
        return low_ok and high_ok

    def describe(self) -> str:
        """``an integer >= 1``, ``a number > 0 and <= 1``, ..."""
        text = f"{'an integer' if self.integer else 'a number'} {'>=' if self.low_allowed else '>'} {_shown(self.low)}"
        if self.high is not None:
            text += f" and {'<=' if self.high_allowed else '<'} {_shown(self.high)}"
        return text


def _shown(limit: float) -> str:
    """An integer limit in full (2^32 - 1 as 4294967295), others as ``:g``."""
    return str(limit) if isinstance(limit, int) else f"{limit:g}"


def check_value(value, name: str, bounds: Bounds, error: type[UserError] = UserError):
    """``value`` if ``bounds`` allow it, else ``error("NAME must be ..., got VALUE")``."""
    if not bounds.allows(value):
        raise error(f"{name} must be {bounds.describe()}, got {value!r}")
    return value


#: Seeds (configs, ``--seed``): 32 bits. The cochlea's bushy cells seed numba's
#: generator, which keeps the low 32 bits (2^32 would repeat seed 0), and training
#: derives its per-epoch shuffle seed as ``seed * 100003 + epoch``, which must stay
#: inside torch's 64-bit seed range.
SEED_BOUNDS = Bounds(True, 0, 2**32 - 1)

#: The largest float32: numbers that become float32 tensor entries or scalars of
#: torch's float32 arithmetic (learning rates, scales, time constants) must be at
#: most this, or torch refuses them ("cannot be converted to type float without
#: overflow")
FLOAT32_MAX = 3.4028234663852886e38
