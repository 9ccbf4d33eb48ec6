"""Spike datasets in the SHD format."""
from lava_convdelay.data.generate import default_dataset
from lava_convdelay.data.shd import DatasetFormatError, SHDDataset, bin_spikes, read_shd, write_shd

__all__ = ["SHDDataset", "DatasetFormatError", "bin_spikes", "default_dataset", "read_shd", "write_shd"]
