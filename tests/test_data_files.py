"""File-based loaders on tiny files in the real formats: SHD, N-MNIST, DVS Gesture, CIFAR-10."""

import pickle

import numpy as np
import pytest
import tonic
from fixtures_data import (
    write_cifar10,
    write_cifar10_batch,
    write_dvs_gesture,
    write_nmnist,
    write_shd,
)

from jaxsnn.data import DatasetCorruptError, DatasetNotFoundError, load_dataset, load_images
from jaxsnn.data.binning import bin_events


@pytest.fixture(autouse=True)
def no_download(monkeypatch):
    """Fail loudly if any code path reaches tonic's downloader."""

    def refuse(*args, **kwargs):
        raise AssertionError("tonic tried to download")

    monkeypatch.setattr(tonic.dataset, "download_and_extract_archive", refuse)


def _events(x, t, p, y=None):
    fields = {"x": np.asarray(x), "t": np.asarray(t), "p": np.asarray(p)}
    if y is not None:
        fields["y"] = np.asarray(y)
    return fields


# --- SHD --------------------------------------------------------------------------------------


@pytest.fixture
def shd_root(tmp_path):
    # float16 spike times in seconds, as in the release; all exactly representable.
    write_shd(
        tmp_path,
        "train",
        times=[[0.0, 0.25, 0.5, 1.0], [0.0, 0.125], [0.5, 0.75, 0.75]],
        units=[[0, 5, 699, 3], [10, 10], [100, 200, 300]],
        labels=[3, 19, 0],
    )
    write_shd(tmp_path, "test", times=[[0.0, 0.5]], units=[[1, 2]], labels=[7])
    return tmp_path


def test_shd_events_labels_and_bins(shd_root):
    train, test = load_dataset("shd", root=shd_root, time_steps=4)
    assert train.inputs.shape == (3, 4, 700) and test.inputs.shape == (1, 4, 700)
    np.testing.assert_array_equal(train.labels, [3, 19, 0])
    assert train.n_classes == 20 and train.name == "shd"
    # Each recording is stretched over the T bins from its first to its last spike
    # (time counts from the first spike: sample 2 starts at 0.5 s).
    np.testing.assert_array_equal(np.argwhere(train.inputs[0]), [[0, 0], [0, 5], [1, 699], [3, 3]])
    np.testing.assert_array_equal(np.argwhere(train.inputs[1]), [[0, 10], [3, 10]])
    np.testing.assert_array_equal(np.argwhere(train.inputs[2]), [[0, 100], [3, 200], [3, 300]])
    np.testing.assert_array_equal(test.inputs.sum(), 2)


def test_shd_channel_downsampling_fixed_duration_and_subset(shd_root):
    train, _ = load_dataset("shd", root=shd_root, time_steps=4, n_channels=7, duration=0.5)
    assert train.inputs.shape == (3, 4, 7)
    # 0.125 s bins from the first spike; spikes at or after 0.5 s are cut off.
    np.testing.assert_array_equal(np.argwhere(train.inputs[0]), [[0, 0], [2, 0]])
    np.testing.assert_array_equal(np.argwhere(train.inputs[2]), [[0, 1], [2, 2], [2, 3]])
    a, _ = load_dataset("shd", root=shd_root, time_steps=2, max_samples=2, seed=1)
    b, _ = load_dataset("shd", root=shd_root, time_steps=2, max_samples=2, seed=1)
    assert len(a) == 2 and set(a.labels) <= {3, 19, 0}
    np.testing.assert_array_equal(a.labels, b.labels)


# --- N-MNIST ----------------------------------------------------------------------------------


def test_nmnist_layout_polarity_and_downsampling(tmp_path):
    sample = _events(x=[0, 33, 5], y=[0, 2, 7], t=[10, 1000, 300_000], p=[0, 1, 1])
    for label, name in ((9, "00007"), (0, "00002"), (3, "00011")):
        write_nmnist(tmp_path, "Train", label, name, sample)
    write_nmnist(tmp_path, "Test", 1, "00001", sample)
    train, test = load_dataset("nmnist", root=tmp_path, time_steps=5)
    assert train.inputs.shape == (3, 5, 2, 34, 34) and test.inputs.shape == (1, 5, 2, 34, 34)
    np.testing.assert_array_equal(train.labels, [0, 3, 9])  # folder name is the label
    np.testing.assert_array_equal(test.labels, [1])
    # (time bin, polarity, y, x) of each event; the 3 events are all kept.
    np.testing.assert_array_equal(
        np.argwhere(train.inputs[0]), [[0, 0, 0, 0], [0, 1, 2, 33], [4, 1, 7, 5]]
    )
    small, _ = load_dataset("nmnist", root=tmp_path, time_steps=5, size=17)
    assert small.inputs.shape == (3, 5, 2, 17, 17)
    np.testing.assert_array_equal(
        np.argwhere(small.inputs[0]), [[0, 0, 0, 0], [0, 1, 1, 16], [4, 1, 3, 2]]
    )


# --- DVS Gesture ------------------------------------------------------------------------------


def test_dvs_gesture_labels_from_file_names_and_downsampling(tmp_path):
    sample = _events(x=[0, 127, 64], y=[0, 127, 8], t=[1000, 1001, 1500], p=[0, 1, 1])
    write_dvs_gesture(tmp_path, "Train", "user02_led", 10, sample)
    write_dvs_gesture(tmp_path, "Train", "user01_fluorescent", 4, sample)
    write_dvs_gesture(tmp_path, "Train", "user01_fluorescent", 0, sample)
    write_dvs_gesture(tmp_path, "Test", "user24_led", 6, sample)
    train, test = load_dataset("dvs_gesture", root=tmp_path, time_steps=5, size=32)
    assert train.inputs.shape == (3, 5, 2, 32, 32) and train.n_classes == 11
    np.testing.assert_array_equal(train.labels, [0, 4, 10])  # sorted by path
    np.testing.assert_array_equal(test.labels, [6])
    # Times are in ms in the files: 1000, 1001, 1500 ms over 5 bins of ~100 ms.
    np.testing.assert_array_equal(
        np.argwhere(train.inputs[0]), [[0, 0, 0, 0], [0, 1, 31, 31], [4, 1, 2, 16]]
    )


# --- CIFAR-10 ---------------------------------------------------------------------------------


def test_cifar10_pickle_batches(tmp_path):
    images, labels = write_cifar10(tmp_path, per_batch=3)
    for root in (tmp_path, tmp_path / "cifar-10-batches-py"):
        train, test = load_images("cifar10", root=root)
        assert train.images.shape == (15, 3, 32, 32) and test.images.shape == (3, 3, 32, 32)
        assert train.images.dtype == np.float32 and train.n_classes == 10
        np.testing.assert_allclose(train.images * 255, images[:15], atol=1e-4)
        np.testing.assert_array_equal(test.labels, labels[15:])


# --- missing and corrupt files ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected", "source"),
    [
        ("shd", "SHD/shd_train.h5", "zenkelab.org"),
        ("nmnist", "NMNIST/Train", "n-mnist"),
        ("dvs_gesture", "DVSGesture/ibmGestureTrain", "dvsgesture"),
    ],
)
def test_missing_event_data_names_path_and_source(tmp_path, name, expected, source):
    with pytest.raises(DatasetNotFoundError, match=source) as info:
        load_dataset(name, root=tmp_path)
    assert str(tmp_path / expected) in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


def test_missing_test_split_and_empty_folder(shd_root, tmp_path):
    (shd_root / "SHD" / "shd_test.h5").unlink()
    with pytest.raises(DatasetNotFoundError, match="shd_test.h5"):
        load_dataset("shd", root=shd_root)
    (tmp_path / "NMNIST" / "Train").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no samples"):
        load_dataset("nmnist", root=tmp_path)


def test_missing_cifar10_names_path_and_source(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="cs.toronto.edu") as info:
        load_images("cifar10", root=tmp_path)
    assert str(tmp_path / "cifar-10-batches-py") in str(info.value)


def test_corrupt_shd_file(shd_root):
    path = shd_root / "SHD" / "shd_train.h5"
    path.write_bytes(b"not an hdf5 file" * 10)
    with pytest.raises(DatasetCorruptError, match=str(path)) as info:
        load_dataset("shd", root=shd_root)
    assert isinstance(info.value, ValueError)


def test_shd_file_without_labels_is_corrupt(shd_root):
    import h5py

    with h5py.File(shd_root / "SHD" / "shd_train.h5", "a") as file:
        del file["labels"]
    with pytest.raises(DatasetCorruptError, match="shd_train.h5"):
        load_dataset("shd", root=shd_root)


@pytest.mark.parametrize(
    "content", [b"\x01\x02\x03\x04\x05\x06\x07", bytes([200, 3, 0, 0, 10])], ids=["cut", "x=200"]
)
def test_corrupt_nmnist_file(tmp_path, content):
    write_nmnist(tmp_path, "Test", 1, "00001", _events(x=[1], y=[1], t=[5], p=[0]))
    bad = tmp_path / "NMNIST" / "Train" / "2" / "00003.bin"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(content)
    with pytest.raises(DatasetCorruptError, match=str(bad)):
        load_dataset("nmnist", root=tmp_path)


def test_corrupt_dvs_gesture_files(tmp_path):
    sample = _events(x=[1], y=[1], t=[5], p=[0])
    write_dvs_gesture(tmp_path, "Test", "user24_led", 1, sample)
    bad = write_dvs_gesture(tmp_path, "Train", "user01_led", 3, sample)
    bad.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DatasetCorruptError, match=str(bad)):
        load_dataset("dvs_gesture", root=tmp_path)
    bad.unlink()
    write_dvs_gesture(tmp_path, "Train", "user01_led", 11, sample)  # there are 11 classes: 0..10
    with pytest.raises(DatasetCorruptError, match="label 11"):
        load_dataset("dvs_gesture", root=tmp_path)


def test_corrupt_cifar10_batches(tmp_path):
    write_cifar10(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(b"\x80\x02}q\x00(")  # a pickle cut short
    with pytest.raises(DatasetCorruptError, match=str(batch)):
        load_images("cifar10", root=tmp_path)
    write_cifar10_batch(batch, np.zeros((2, 3072)), [1])  # 2 images, 1 label
    with pytest.raises(DatasetCorruptError, match="2 images but 1 labels"):
        load_images("cifar10", root=tmp_path)


def test_cifar10_reader_refuses_code_in_pickles(tmp_path):
    write_cifar10(tmp_path)
    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return (marker.write_text, ("pwned",))

    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(DatasetCorruptError, match="unexpected global"):
        load_images("cifar10", root=tmp_path)
    assert not marker.exists()


# --- binning ----------------------------------------------------------------------------------


def _structured(t, x):
    events = np.zeros(len(t), dtype=[("t", int), ("x", int), ("p", int)])
    events["t"], events["x"], events["p"] = t, x, 1
    return events


def test_binning_keeps_every_event_of_short_or_unsorted_recordings():
    # Shorter than T microseconds: tonic's ToFrame(n_time_bins=T) would return empty frames.
    frames = bin_events(_structured(t=[2, 0, 1], x=[2, 0, 1]), (3, 1, 1), 10)
    assert frames.shape == (10, 3) and frames.sum() == 3
    np.testing.assert_array_equal(np.argwhere(frames), [[0, 0], [3, 1], [6, 2]])
    assert bin_events(_structured(t=[], x=[]), (3, 1, 1), 4).shape == (4, 3)


def test_binning_rejects_addresses_outside_the_sensor():
    with pytest.raises(ValueError, match="outside the sensor"):
        bin_events(_structured(t=[0], x=[3]), (3, 1, 1), 4)
