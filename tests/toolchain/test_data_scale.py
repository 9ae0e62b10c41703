"""Loaders of the datasets at scale on tiny files in their real formats, written here by
independent writers (pickle of the CIFAR-100 dict, Pillow PNG/JPEG files in the class-folder
and TinyImageNet layouts, N-MNIST's 40-bit event records packed by hand, tonic's DVS Gesture
.npy layout, AEDAT 2.0 with its header and big-endian records, SHD's HDF5 with ragged arrays),
the augmentations, and the DataLoader pipeline."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from hwsim.errors import ConfigError, DataError
from toolchain.augment import Augment, sample_generator
from toolchain.data import load_dataset
from toolchain.loader import BatchSet, EpochBatches, ShardBatches, make_loader

# ---------------------------------------------------------------------------------------------
# writers


def write_cifar100(root, n_train=6, n_test=4, seed=0):
    rng = np.random.default_rng(seed)
    sub = root / "cifar-100-python"
    sub.mkdir()
    out = {}
    for name, n in (("train", n_train), ("test", n_test)):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        fine = [int(v) for v in rng.integers(0, 100, size=n)]
        batch = {b"filenames": [b"x.png"] * n, b"batch_label": b"b", b"fine_labels": fine,
                 b"coarse_labels": [f // 5 for f in fine], b"data": data}  # fmt: skip
        with open(sub / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)  # the original files are Python 2 pickles
        out[name] = (data, np.array(fine))
    return out


def write_images(folder, images, suffix=".png"):
    folder.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(images):
        Image.fromarray(a).save(folder / f"img_{i:03d}{suffix}")


def write_nmnist_bin(path, x, y, p, t):
    """N-MNIST: 5 bytes per event: x, y, p<<7 | t[22:16], t[15:8], t[7:0]."""
    t = np.asarray(t, dtype=np.uint32)
    rec = np.stack([x, y, (np.asarray(p) << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF], 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(rec.astype(np.uint8).tobytes())


def write_aedat2(path, x, y, p, t):
    """AEDAT 2.0: '#'-comment header, then big-endian (uint32 address, uint32 timestamp) with
    DVS128 addresses y << 8 | x << 1 | p."""
    addr = (np.asarray(y) << 8) | (np.asarray(x) << 1) | np.asarray(p)
    rec = np.empty(len(addr), dtype=[("a", ">u4"), ("t", ">u4")])
    rec["a"], rec["t"] = addr, t
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"#!AER-DAT2.0\r\n# This is a raw AE data file\r\n" + rec.tobytes())


# Events of one recording: pixel (3, 5) polarity 1 early, pixel (10, 2) polarity 0 late, and two
# markers at t = 0 and t = 1000 fixing the time span, so with T = 2 tonic's bins are [0, 500)
# and [500, 1000): the early event is in bin 0 only, the late one in bin 1 only, and the end
# marker, at the open end of the last bin, in none (tonic's half-open bins).
EVENTS = {"x": [0, 3, 10, 0], "y": [0, 5, 2, 0], "p": [1, 1, 0, 1], "t": [0, 100, 700, 1000]}


def expected_frames(T=2, size=34):
    f = np.zeros((T, 2, size, size), np.float32)
    f[0, 1, 0, 0] = 1  # the start marker
    f[0, 1, 5, 3] = 1
    f[1, 0, 2, 10] = 1
    return f


# ---------------------------------------------------------------------------------------------
# image datasets


def test_cifar100(tmp_path):
    files = write_cifar100(tmp_path)
    ds = load_dataset("cifar100", root=tmp_path)
    assert ds.num_classes == 100 and ds.in_shape == (3, 32, 32) and ds.encoding == "frames"
    data, fine = files["train"]
    assert torch.equal(ds.y_train, torch.from_numpy(fine))
    # row = 1024 red, 1024 green, 1024 blue values
    assert ds.x_train[2, 1, 0, 5] == pytest.approx(data[2, 1024 + 5] / 255)
    assert (
        len(ds.y_test) == 4
        and load_dataset("cifar100", root=tmp_path, limit=3).x_train.shape[0] == 3
    )


def test_cifar100_label_out_of_range(tmp_path):
    sub = tmp_path / "cifar-100-python"
    sub.mkdir()
    for name in ("train", "test"):
        with open(sub / name, "wb") as f:
            pickle.dump({b"data": np.zeros((1, 3072), np.uint8), b"fine_labels": [100]}, f)
    with pytest.raises(DataError, match="fine_labels.*0..99"):
        load_dataset("cifar100", root=tmp_path)


def test_class_folders_decode_exactly_and_normalise(tmp_path):
    rng = np.random.default_rng(0)
    imgs = {c: rng.integers(0, 256, size=(3, 6, 5, 3), dtype=np.uint8) for c in ("cat", "dog")}
    for split in ("train", "val"):
        for c, a in imgs.items():
            write_images(tmp_path / split / c, a)
    (tmp_path / "train" / "dog" / "notes.txt").write_text("not an image")
    ds = load_dataset("image_folder", root=tmp_path)
    assert ds.num_classes == 2 and ds.in_shape == (3, 6, 5) and len(ds.y_train) == 6
    assert ds.y_train.tolist() == [0, 0, 0, 1, 1, 1]
    # PNG is lossless: the decoded tensor is the written image / 255, channels first
    want = torch.from_numpy(imgs["dog"][1].transpose(2, 0, 1) / 255.0).float()
    assert torch.allclose(ds.x_train[4], want)
    assert torch.allclose(ds.x_test[[0, 4]][1], want)  # lazy fancy indexing
    norm = load_dataset("image_folder", root=tmp_path, normalize=True)
    x = norm.x_train[:]
    assert torch.allclose(x.mean((0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(x.std((0, 2, 3)), torch.ones(3), atol=1e-4)


def test_class_folders_resize_and_size_mismatch(tmp_path):
    for split in ("train", "val"):
        write_images(tmp_path / split / "a", [np.full((8, 12, 3), 200, np.uint8)])
        write_images(tmp_path / split / "b", [np.full((10, 10, 3), 50, np.uint8)])
    with pytest.raises(DataError, match="image_size"):
        load_dataset("image_folder", root=tmp_path).x_train[:]
    ds = load_dataset("image_folder", root=tmp_path, image_size=4)
    x = ds.x_train[:]
    assert x.shape == (2, 3, 4, 4)
    assert torch.allclose(x[0], torch.full((3, 4, 4), 200 / 255), atol=1 / 255)


def test_tinyimagenet_layout(tmp_path):
    root = tmp_path / "tiny-imagenet-200"
    wnids = ["n01443537", "n01629819"]
    (root).mkdir()
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for k, w in enumerate(wnids):
        img = np.full((64, 64, 3), 40 + 100 * k, np.uint8)
        write_images(root / "train" / w / "images", [img, img], ".JPEG")
    write_images(root / "val" / "images", [np.full((64, 64, 3), 140, np.uint8)], ".JPEG")
    (root / "val" / "val_annotations.txt").write_text(f"img_000.JPEG\t{wnids[1]}\t0\t0\t63\t63\n")
    ds = load_dataset("tinyimagenet", root=tmp_path)
    assert ds.num_classes == 2 and ds.in_shape == (3, 64, 64)
    assert ds.y_train.tolist() == [0, 0, 1, 1] and ds.y_test.tolist() == [1]
    assert float(ds.x_test[0].mean()) == pytest.approx(140 / 255, abs=2 / 255)  # JPEG: lossy
    (root / "val" / "val_annotations.txt").write_text("img_000.JPEG\tn99999999\t0\t0\t1\t1\n")
    with pytest.raises(DataError, match="val_annotations.txt:1"):
        load_dataset("tinyimagenet", root=tmp_path)


def test_file_datasets_need_a_root():
    with pytest.raises(ConfigError, match="data.root"):
        load_dataset("cifar100")


# ---------------------------------------------------------------------------------------------
# event datasets (tonic)


def test_nmnist_bins_events_into_binary_frames(tmp_path):
    e = EVENTS
    for split, digits in (("Train", (3, 7)), ("Test", (7,))):
        for d in digits:
            write_nmnist_bin(tmp_path / "NMNIST" / split / str(d) / "00001.bin", **e)
    ds = load_dataset("nmnist", root=tmp_path, T=2)  # tonic's download folder is found too
    assert ds.encoding == "spikes" and ds.in_shape == (2, 34, 34) and ds.T == 2
    assert ds.num_classes == 10 and ds.y_train.tolist() == [3, 7] and ds.y_test.tolist() == [7]
    assert np.array_equal(ds.x_train[0].numpy(), expected_frames())
    # hwsim takes spike trains time-first
    assert ds.inputs("test").shape == (2, 1, 2, 34, 34)


def test_nmnist_overflow_record_and_downsample(tmp_path):
    # y == 240 marks a timestamp overflow record (+2^13 us for every later event), not an event
    # (after the overflow: t = 1000 in bin [1000, 2000), end marker at 2000 in no bin)
    x, y, p, t = (
        [0, 3, 0, 9, 0],
        [0, 5, 240, 0, 0],
        [1, 1, 0, 1, 1],
        [0, 100, 0, 1000 - 8192, 2000 - 8192],
    )
    for split in ("Train", "Test"):
        write_nmnist_bin(tmp_path / split / "1" / "a.bin", x, y, p, t)
    ds = load_dataset("nmnist", root=tmp_path, T=2, downsample=0.5)
    f = ds.x_train[0].numpy()
    assert f.shape == (2, 2, 17, 17) and f.sum() == 3  # the overflow record is not an event
    assert f[1, 1, 0, 4] == 1  # x = 9 -> 4 at half resolution, t = 1000 after the overflow


def test_dvs_gesture_npy_layout(tmp_path):
    e = EVENTS
    arr = np.stack([e["x"], e["y"], e["p"], np.asarray(e["t"]) / 1000.0], 1)  # t in ms
    for split, users in (
        ("ibmGestureTrain", ("user01_fluorescent",)),
        ("ibmGestureTest", ("user24_led",)),
    ):
        for u in users:
            (tmp_path / split / u).mkdir(parents=True)
            np.save(tmp_path / split / u / "4.npy", arr)
            np.save(tmp_path / split / u / "10.npy", arr)
    ds = load_dataset("dvs_gesture", root=tmp_path, T=2)
    assert ds.num_classes == 11 and ds.in_shape == (2, 128, 128)
    assert sorted(ds.y_train.tolist()) == [4, 10]
    assert np.array_equal(ds.x_train[0].numpy(), expected_frames(size=128))
    np.save(tmp_path / "ibmGestureTrain" / "user01_fluorescent" / "11.npy", arr)
    with pytest.raises(DataError, match="label 0..10"):
        load_dataset("dvs_gesture", root=tmp_path, T=2)


def test_cifar10_dvs_aedat2_and_seeded_split(tmp_path):
    e = EVENTS
    classes = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    for c in classes:
        for i in range(2):
            write_aedat2(tmp_path / c / f"cifar10_{c}_{i}.aedat", **e)
    ds = load_dataset("cifar10_dvs", root=tmp_path, T=2, test_fraction=0.5, seed=0)
    assert ds.num_classes == 10 and len(ds.y_train) == len(ds.y_test) == 10
    assert sorted(ds.y_test.tolist()) == list(range(10))  # stratified
    assert np.array_equal(ds.x_test[0].numpy(), expected_frames(size=128))


def test_shd_hdf5(tmp_path):
    import h5py

    times = [np.array([0.0, 0.0001, 0.0007, 0.001]), np.array([0.0, 0.001])]
    units = [np.array([0, 5, 699, 0], np.uint16), np.array([3, 3], np.uint16)]
    for split in ("train", "test"):
        with h5py.File(tmp_path / f"shd_{split}.h5", "w") as f:
            f.create_dataset("spikes/times", data=times, dtype=h5py.vlen_dtype(np.float32))
            f.create_dataset("spikes/units", data=units, dtype=h5py.vlen_dtype(np.uint16))
            f.create_dataset("labels", data=np.array([19, 2], np.uint16))
    ds = load_dataset("shd", root=tmp_path, T=2)
    assert ds.in_shape == (700,) and ds.num_classes == 20 and ds.y_train.tolist() == [19, 2]
    f = ds.x_train[0].numpy()
    want = np.zeros((2, 700), np.float32)
    want[0, 0] = want[0, 5] = want[1, 699] = 1  # unit 0 at the end: outside the last bin
    assert np.array_equal(f, want)


def test_event_dataset_missing_layout(tmp_path):
    with pytest.raises(DataError, match="Train"):
        load_dataset("nmnist", root=tmp_path, T=2)


# ---------------------------------------------------------------------------------------------
# augmentations and the loader


def test_augment_crop_flip_cutout_golden():
    x = torch.arange(16.0).view(1, 4, 4) + 1  # no zeros, so padding and holes are visible
    g = torch.Generator().manual_seed(0)
    top, left = (int(torch.randint(3, (), generator=g)) for _ in range(2))
    crop = Augment(crop=1)(x, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    assert torch.equal(crop, padded[..., top : top + 4, left : left + 4])
    flips = [bool(torch.equal(Augment(flip=True)(x, sample_generator(0, 0, i)), x.flip(-1)))
             for i in range(64)]  # fmt: skip
    assert 16 < sum(flips) < 48  # about half flipped; the others unchanged
    cut = Augment(cutout=2)(x, sample_generator(0, 0, 1))
    assert 1 <= int((cut == 0).sum()) <= 4 and torch.equal(cut[cut != 0], x[cut != 0])
    seq = torch.ones(3, 2, 4, 4)  # a spike train: every step gets the same hole
    holed = Augment(cutout=2)(seq, sample_generator(0, 0, 1))
    assert all(torch.equal(holed[0], holed[t]) for t in range(3))
    with pytest.raises(ConfigError, match="augment_crop"):
        Augment(crop=-1)


def test_loader_shards_union_to_the_global_batch_and_augments_per_sample():
    n, batch = 20, 8
    x, y = torch.rand(n, 1, 4, 4), torch.arange(n)
    one = EpochBatches(n, batch, 1, 0, seed=3)
    two = [EpochBatches(n, batch // 2, 2, r, seed=3) for r in range(2)]
    for s in (one, *two):
        s.set_epoch(5)
    for (_, b1), (_, b2a), (_, b2b) in zip(one, *two):
        assert sorted(b1) == sorted(b2a + b2b)
    aug = BatchSet(x, y, Augment(crop=1, flip=True, cutout=2), seed=3)
    xa, _ = aug[(5, [7, 2])]
    xb, _ = aug[(5, [2])]
    assert torch.equal(xa[1], xb[0])  # the same sample, epoch and seed: the same draws
    assert not torch.equal(aug[(6, [2])][0][0], xb[0])
    loader = make_loader(BatchSet(x, y), ShardBatches(n, 6, world=2, rank=1), workers=2)
    assert torch.cat([yb for _, yb in loader]).tolist() == list(range(1, n, 2))
