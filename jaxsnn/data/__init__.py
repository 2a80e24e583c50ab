"""Datasets as dense spike arrays: embedded ones (no download), local event data via tonic, images.

``load_dataset(name)`` returns train/test ``SpikeDataset`` s, ``iterate_batches`` walks one,
``load_images(name)`` gives static images for ANN-to-SNN conversion, and the encoders turn
intensities into spike trains. Nothing here downloads or writes to disk.
"""

from jaxsnn.data.dataset import DataSplits, ImageDataset, SpikeDataset, iterate_batches
from jaxsnn.data.encoders import latency_encode, rate_encode
from jaxsnn.data.errors import DatasetCorruptError, DatasetError, DatasetNotFoundError
from jaxsnn.data.registry import EMBEDDED, IMAGE_DATASETS, SPIKE_DATASETS, load_dataset, load_images, loader_options

__all__ = [
    "EMBEDDED",
    "IMAGE_DATASETS",
    "SPIKE_DATASETS",
    "DataSplits",
    "DatasetCorruptError",
    "DatasetError",
    "DatasetNotFoundError",
    "ImageDataset",
    "SpikeDataset",
    "iterate_batches",
    "latency_encode",
    "load_dataset",
    "load_images",
    "loader_options",
    "rate_encode",
]
