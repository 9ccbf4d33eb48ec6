"""NetX HDF5 export: quantization, writer, validating reader."""
import lava_convdelay  # noqa: F401  (quiet lava-dl import)
