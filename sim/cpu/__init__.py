"""The Lava CPU path: the network of :mod:`sim.lava_network` on
``Loihi2SimCfg('fixed_pt')`` with faster, bit-identical process models
(:mod:`.models`), every sample from rest (:mod:`.runner`)."""
