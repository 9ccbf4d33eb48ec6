"""The between-sample schedule (sim/loihi2/schedule.py): which samples leak into the
next one, on one-neuron networks whose spike times follow by hand from
docs/hdf5-format.md (a spike of the input at t reaches layer 1 at t + 1 + D;
a recurrent spike of neuron j at t arrives at t + 1 + d_j), and how the
period is chosen."""
import numpy as np
import pytest
from naive_reference import reference_network

from netx_export.spec import CubaParams, LayerSpec, NetworkSpec
from sim.errors import ScheduleError
from sim.loihi2.schedule import LATENCY_ALLOWANCE, Schedule, leaks, plan, shortest_period

#: u is gone after each step, v nearly: the neuron fires exactly in the steps
#: a spike of weight 254 arrives (v = 254 * 64 > 100 * 64) and never from weight 2
SHARP = CubaParams(i_decay=4096, v_decay=4095, vth_mant=100)


def one_neuron(kind="dense", weight=254, neuron=SHARP, **fields):
    return NetworkSpec(1, [LayerSpec(kind, np.array([[weight]], np.int64), neuron, **fields)], source="<one>")


def spike_at(*columns, steps):
    x = np.zeros((1, 1, steps), np.int8)
    x[0, 0, list(columns)] = 1
    return x


def test_schedule_must_be_a_power_of_two_holding_the_input():
    assert Schedule(30, 64).silent == 34
    reset = Schedule(30, 64).reset
    assert (reset.interval, [reset.layer_offset(layer) for layer in (1, 2, 3)]) == (64, [2, 3, 4])
    with pytest.raises(ScheduleError, match="power of 2.*got 100"):
        Schedule(30, 100)
    with pytest.raises(ScheduleError, match="shorter than the 40 input steps"):
        Schedule(40, 32)


def test_feed_forward_delay_arrival_against_the_reset():
    spec = one_neuron(delay=np.array([5]))
    # input at 9 reaches the layer at 9 + 1 + 5 = 15; the next sample resets it at 16 + 1
    assert leaks(spec, spike_at(9, steps=10), 16)[0] <= 0
    # resets 2 steps early (input adapter latency): at 15, the spike arrives in that step
    assert leaks(spec, spike_at(9, steps=10), 16, margin=2)[0] == 1
    # input at 10 -> the layer fires at 16: before its reset at 17, so in the next sample's column 0
    assert leaks(spec, spike_at(10, steps=11), 16)[0] == 1


def test_recurrent_delay_arrival_against_the_reset():
    spec = one_neuron("delay_rec", weight_rec=np.array([[2]], np.int64), delay_rec=np.array([7]), max_delay=7)
    # input at 9 -> fires at 10 -> its recurrent spike arrives at 10 + 1 + 7 = 18, reset at 17
    assert leaks(spec, spike_at(9, steps=10), 16)[0] == 2
    assert leaks(spec, spike_at(9, steps=10), 32)[0] <= 0


def test_residual_output_voltage_counts_when_voltage_is_read():
    slow = CubaParams(i_decay=4096, v_decay=1, vth_mant=100)
    spec = one_neuron(weight=2, neuron=slow)
    x = spike_at(10, steps=15)  # v = 2 * 64 from step 11 on, decaying by 1/4096 a step
    assert leaks(spec, x, 16)[0] <= 0
    assert leaks(spec, x, 16, voltage=True)[0] == 1
    assert leaks(spec, x, 16, voltage=True, margin=LATENCY_ALLOWANCE)[0] == 1  # the reset is not earlier


def test_period_is_doubled_until_activity_has_died_out():
    persistent = CubaParams(i_decay=94, v_decay=4095, vth_mant=100)
    spec = one_neuron(neuron=persistent)
    x = spike_at(0, steps=10).repeat(3, axis=0)
    fires = np.flatnonzero(reference_network(spec, spike_at(0, steps=64)[0])[0][0][0])
    assert shortest_period(spec, 10) == 16 and 32 < fires[-1] < 64 - 2
    chosen = plan(spec, x)
    assert chosen.schedule.period == 64 and not chosen.exposed.size
    assert "exact" in chosen.describe()


def test_self_sustained_activity_keeps_the_shortest_period_and_warns():
    endless = CubaParams(i_decay=1, v_decay=4095, vth_mant=100)  # u lasts thousands of steps
    spec = one_neuron(neuron=endless)
    chosen = plan(spec, spike_at(0, steps=10).repeat(3, axis=0))
    assert chosen.schedule.period == 16 and chosen.exposed.tolist() == [1, 2]
    assert "WARNING: in 2 of 2 sample transitions" in chosen.describe() and "samples 1, 2" in chosen.describe()


def test_period_too_short_for_tail_and_latency_is_refused():
    with pytest.raises(ScheduleError, match="cannot hold 10 input steps, a tail of 4 and 4 steps"):
        plan(one_neuron(), spike_at(0, steps=10), tail=4, period=16)


def test_host_reset_zeroes_every_layer_at_the_period():
    """With the host's Var.set every layer restarts at column P (P - margin
    with a late input); only spikes still in flight then leak."""
    spec = one_neuron(delay=np.array([5]))
    assert leaks(spec, spike_at(9, steps=10), 16, host_reset=True)[0] <= 0  # arrives at 15 < 16
    assert leaks(spec, spike_at(9, steps=10), 16, margin=2, host_reset=True)[0] == 2  # zeroed at 14
    rec = one_neuron("delay_rec", weight_rec=np.array([[2]], np.int64), delay_rec=np.array([7]), max_delay=7)
    # fires at 10, its recurrent spike arrives at 18: 3 steps after the zeroing at 16 (LIFReset at 17: 2)
    assert leaks(rec, spike_at(9, steps=10), 16, host_reset=True)[0] == 3
    assert leaks(rec, spike_at(9, steps=10), 16)[0] == 2


def test_host_reset_clears_what_lifreset_leaves_before_the_reset():
    """A layer's own spikes just before its LIFReset, and a readout's residual
    voltage, leak with LIFReset but are zeroed by the host."""
    slow = CubaParams(i_decay=4096, v_decay=1, vth_mant=100)
    x = spike_at(10, steps=15)
    assert leaks(one_neuron(weight=2, neuron=slow), x, 16, voltage=True)[0] == 1
    assert leaks(one_neuron(weight=2, neuron=slow), x, 16, voltage=True, host_reset=True)[0] <= 0
    # input at 15 -> fires at 16: with LIFReset before the reset at 17, in the next sample's column 0
    assert leaks(one_neuron(), spike_at(15, steps=16), 16)[0] == 1
    assert leaks(one_neuron(), spike_at(15, steps=16), 32, host_reset=True)[0] <= 0


def test_lifreset_intervals_are_capped_and_auto_resets_from_the_host_beyond():
    persistent = CubaParams(i_decay=94, v_decay=4095, vth_mant=100)  # fires for 32..62 steps after an input
    spec = one_neuron(neuron=persistent)
    x = spike_at(0, steps=10).repeat(3, axis=0)
    assert plan(spec, x).schedule == Schedule(10, 64)  # LIFReset at 64 (within 256)
    capped = plan(spec, x, max_interval=16)  # 16 leaks; beyond the cap the host resets: exact at 32
    assert capped.schedule == Schedule(10, 32, host_reset=True) and not capped.exposed.size
    assert "zeroed from the host (Var.set) after each sample" in capped.describe()
    assert plan(spec, x, reset="host").schedule == Schedule(10, 16, host_reset=True)
    assert plan(spec, x, period=24, reset="host").schedule.period == 24  # any period
    with pytest.raises(ScheduleError, match="LIFReset interval of 32 steps exceeds the largest one allowed "
                                            r"\(16; .*--reset host.*--max-reset-interval 32"):
        plan(spec, x, period=32, reset="lifreset", max_interval=16)
    with pytest.raises(ScheduleError, match="power of 2.*got 24; --reset host takes any period"):
        plan(spec, x, period=24)
