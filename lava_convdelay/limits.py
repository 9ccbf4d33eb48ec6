"""Loihi 2 / NetX numbers, in one place: every layer (training, export,
simulators, resource estimate) takes them from here.

Units (docs/hdf5-format.md): a weight is stored as SLAYER weight x
:data:`WEIGHT_UNIT` (an 8-bit mantissa, even values); neuron states ``u``,
``v`` and decays are in units of 1/:data:`STATE_UNIT` of a SLAYER unit; a
threshold mantissa ``vThMant`` fires where ``v > vThMant << THRESHOLD_SHIFT``.
"""

#: Largest axonal delay a Loihi 2 synapse holds, steps (Lava's DelaySparse /
#: DelayDense; NetX clamps larger values with a warning, we refuse them).
MAX_DELAY = 62

#: The file's weight unit: SLAYER weights x 64 (SLAYER's default neuron scale ``w_scale``).
WEIGHT_UNIT = 64
#: 8-bit weights in file units: SLAYER's ``quantize_8bit`` steps of 2/64 clamped to [-256, 254] / 64.
WEIGHT_MIN, WEIGHT_MAX = -256, 254
#: Spacing of quantized weights in file units.
WEIGHT_STEP = 2

#: Neuron states and decays: 12-bit fractions (SLAYER's ``s_scale``, Loihi's decay unit).
STATE_UNIT = 4096
#: ``vThMant`` is shifted by this many bits before the comparison with ``v`` (``vThMant << 6``).
THRESHOLD_SHIFT = 6

#: Lava (and Loihi) keep ``u`` and ``v`` in 24-bit registers: ``u`` wraps, ``v`` saturates at +-:data:`V_MAX`.
STATE_BITS = 24
V_MAX = (1 << (STATE_BITS - 1)) - 1

#: Largest threshold mantissa of a neuron that can fire: from 2**17 on, ``vThMant << 6``
#: is at or above :data:`V_MAX` and ``v`` never exceeds it. Lava declares the LIF
#: threshold a 17-bit field, so this is also the largest the chip holds.
VTH_SPIKING_MAX = (1 << 17) - 1
#: What a non-spiking layer (a readout) stores, as lava-dl's ``cuba.Affine.export_hdf5``.
VTH_NON_SPIKING = (1 << 18) - 1

#: Largest magnitude a synapse's signed 16-bit activation buffer (``a_buff``) holds in one step.
ACTIVATION_LIMIT = (1 << 15) - 1
