"""Differential test: gnnkit's LIF network against Brian2 (numpy target, ``method='euler'``, float64).

The same network (random sparse weights, whole-step delays, refractoriness, a bias current)
driven by the same input spike trains must give the identical spike train, spike for spike,
over 1,000 steps, and the same membrane potentials up to float64 summation order.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gnnkit import Graph, ops
from gnnkit.brain.dynamics import LIFNetwork, simulate

brian2 = pytest.importorskip("brian2", reason="brian2 (dev extra) is the reference simulator")

N, N_IN, STEPS = 40, 12, 1000
REFRACTORY = 3  # steps
V_REST, V_RESET, V_TH, R = 0.1, -0.2, 1.0, 1.3


def _network(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    src, dst = (rng.random((N, N)) < 0.15).nonzero()  # recurrent synapses src -> dst, autapses allowed
    in_src, in_dst = (rng.random((N_IN, N)) < 0.3).nonzero()  # input spike generators -> neurons
    return {
        "src": src, "dst": dst, "w": rng.normal(0.05, 0.25, src.size), "delay": rng.integers(0, 4, src.size),
        "in_src": in_src, "in_dst": in_dst, "w_in": rng.uniform(0.2, 0.6, in_src.size),
        "bias": rng.uniform(0.0, 0.6, N),
        "input": rng.random((STEPS, N_IN)) < 0.04,  # [T, N_in] input spikes
    }


def _brian2_run(net: dict[str, np.ndarray], tau_s_ms: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    b2 = brian2
    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = 0.1 * b2.ms
    dt = b2.defaultclock.dt
    tau_m = 10 * b2.ms
    if tau_s_ms is None:
        eqs = "dv/dt = (-(v - v_rest) + R*I_b)/tau_m : 1 (unless refractory)\nI_b : 1"
        on_pre = "v_post += w"
        namespace = {"v_rest": V_REST, "R": R, "tau_m": tau_m}
    else:
        tau_s = tau_s_ms * b2.ms
        eqs = ("dv/dt = (-(v - v_rest) + R*(I + I_b))/tau_m : 1 (unless refractory)\n"
               "dI/dt = -I/tau_s : 1\nI_b : 1")
        on_pre = "I_post += w"
        namespace = {"v_rest": V_REST, "R": R, "tau_m": tau_m, "tau_s": tau_s}
    namespace.update(v_th=V_TH, v_reset=V_RESET)
    group = b2.NeuronGroup(N, eqs, threshold="v > v_th", reset="v = v_reset", refractory=REFRACTORY * dt,
                           method="euler", namespace=namespace)
    group.v = V_REST
    group.I_b = net["bias"]
    steps, ids = net["input"].nonzero()
    gen = b2.SpikeGeneratorGroup(N_IN, ids, steps * dt)
    rec = b2.Synapses(group, group, "w : 1", on_pre=on_pre)
    rec.connect(i=net["src"], j=net["dst"])
    rec.w = net["w"]
    rec.delay = net["delay"] * dt
    inp = b2.Synapses(gen, group, "w : 1", on_pre=on_pre)
    inp.connect(i=net["in_src"], j=net["in_dst"])
    inp.w = net["w_in"]
    spikes = b2.SpikeMonitor(group)
    trace = b2.StateMonitor(group, "v", record=True)
    b2.Network(group, gen, rec, inp, spikes, trace).run(STEPS * dt, namespace={})
    step = np.round(np.asarray(spikes.t / dt)).astype(np.int64)
    consts = {"dt": float(dt), "tau_m": float(tau_m), "tau_s": None if tau_s_ms is None else float(tau_s)}
    return step, np.asarray(spikes.i, dtype=np.int64), np.asarray(trace.v).T, consts  # v: [T, N]


def _gnnkit_run(net: dict[str, np.ndarray], consts: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f64 = torch.float64
    g = Graph(torch.as_tensor(net["src"]), torch.as_tensor(net["dst"]), N)
    model = LIFNetwork(g, tau_m=consts["tau_m"], dt=consts["dt"], tau_s=consts["tau_s"], v_rest=V_REST, v_reset=V_RESET,
                       v_th=V_TH, resistance=R, bias_current=torch.as_tensor(net["bias"]), refractory=REFRACTORY,
                       delays=torch.as_tensor(net["delay"]), weight=torch.as_tensor(net["w"]))
    g_in = Graph(torch.as_tensor(net["in_src"]), torch.as_tensor(net["in_dst"]), N, num_src_nodes=N_IN)
    drive = ops.spmm(g_in, torch.as_tensor(net["input"], dtype=f64).T.contiguous(), torch.as_tensor(net["w_in"]))  # [N, T]
    with torch.no_grad():
        _, rec = simulate(model, model.initial_state(1), drive.T.unsqueeze(-1), record=("spikes", "v"))
    step, neuron = rec["spikes"][:, :, 0].nonzero(as_tuple=True)
    return step.numpy(), neuron.numpy(), rec["v"][:, :, 0].numpy()


def _sorted(step: np.ndarray, neuron: np.ndarray) -> np.ndarray:
    order = np.lexsort((neuron, step))
    return np.stack([step[order], neuron[order]])


@pytest.mark.parametrize("tau_s_ms", [None, 2.0], ids=["delta", "exponential"])
def test_lif_brian2_identical_spike_trains(tau_s_ms: float | None) -> None:
    net = _network(seed=3)
    b_step, b_neuron, b_v, consts = _brian2_run(net, tau_s_ms)
    g_step, g_neuron, g_v = _gnnkit_run(net, consts)
    # the network must be active for the comparison to mean anything: many spikes, many neurons,
    # and spikes inside refractory windows would show up as mismatches
    assert b_step.size > 500 and np.unique(b_neuron).size > N // 2
    np.testing.assert_array_equal(_sorted(g_step, g_neuron), _sorted(b_step, b_neuron))
    # Brian2 records v at the start of each step (before its update): our step t's end state is its t + 1
    np.testing.assert_allclose(g_v[:-1], b_v[1:], rtol=0, atol=1e-12)
