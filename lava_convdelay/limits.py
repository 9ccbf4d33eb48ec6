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
#: Most delay channels a 'conv_delay_channels_rec' / 'dchan_rec' layer may have (each is
#: a synapse group with its own delay buffer on the chip).
MAX_DELAY_CHANNELS = 1024

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
#: The threshold mantissa every simulator and graph gives a non-spiking layer (a voltage
#: readout; the file keeps :data:`VTH_NON_SPIKING` as its marker): the fixed-point
#: simulator, the Lava CPU graph and the Loihi 2 graph all fire and reset ``v`` to 0 where
#: ``v > READOUT_VTH << THRESHOLD_SHIFT`` (2^22 - 64), so they agree even there. 2^16 - 1
#: fits a 16-bit unsigned, 17-bit signed or 17-bit unsigned threshold field: public Loihi 2
#: runs found a readout threshold of 2^17 unreliable and 2^15-2^16 reliable (ml_genn_netx
#: commit cad2d89; docs/loihi2.md), and ``loihi2-selftest`` measures 2^15, 2^16 and 2^17 - 1.
READOUT_VTH = (1 << 16) - 1
#: ``evaluate`` and ``deploy`` warn where a readout's voltage exceeds this (half the
#: voltage at which it would fire): the band it must stay out of is near.
READOUT_WARN_V = READOUT_VTH << (THRESHOLD_SHIFT - 1)

#: Largest ``LIFReset`` reset interval the Loihi 2 graph uses unless told otherwise
#: (``--max-reset-interval``): Intel's examples use 16-32, ml_genn_netx's hardware scripts
#: note a maximum of 256 and reset from the host instead (docs/loihi2.md). Beyond it
#: samples are reset from the host (``Var.set`` of ``u``, ``v`` between runs).
MAX_RESET_INTERVAL = 256

#: Largest magnitude a synapse's signed 16-bit activation buffer (``a_buff``) holds in one step.
ACTIVATION_LIMIT = (1 << 15) - 1
