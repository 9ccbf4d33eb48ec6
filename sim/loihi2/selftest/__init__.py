"""``lava-convdelay loihi2-selftest``: small Lava graphs, each a question about
what the chip does, run with the same code on Loihi 2 and on its CPU
rehearsal, written to one archive per backend, then compared.

- :mod:`.microtests`: the micro-tests (what each checks, and which option
  to switch when it differs);
- :mod:`.harness`: one micro-test in its own runtime, through the
  backend's adapters, probes and preflight;
- :mod:`.run`: the whole self-test (environment, calibration, micro-tests,
  the real network) into an archive;
- :mod:`.archive`: the archive format, written atomically, read with checks;
- :mod:`.compare`: two archives -> per micro-test and per layer the first
  difference and the fallback.
"""
