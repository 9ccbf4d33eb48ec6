"""The Loihi 2 path: the graph Intel's NetX hardware examples build (adapters,
``LIFReset`` between samples, a state probe for the readout's voltage), its
schedule, preflight and calibration, and an offline chip-fit estimate; run on
Loihi 2 through lava-loihi or rehearsed on the CPU (:mod:`.backend`)."""
