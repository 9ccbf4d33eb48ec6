"""The Loihi 2 path: the graph Intel's NetX hardware examples build (adapters,
``LIFReset`` or the host's reset between samples, state probes), its
schedule, preflight and calibration, the self-test of what it relies on, and
an offline chip-fit estimate; run on Loihi 2 through lava-loihi or rehearsed
on the CPU (:mod:`.backend`)."""
