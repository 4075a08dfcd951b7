"""Tests of companion.data: the offline datasets, the toys, grey levels and the downloaders.

The download code runs on small files made here (fake IDX files, fake CIFAR-10 and
BSDS300 archives), through the real parsers, checksum checks and ``urllib`` (``file://`` URLs);
no test touches the network.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import subprocess
import sys
import tarfile
import types
import urllib.error

import numpy as np
import pytest
import torch

import companion.data as D
from companion.data import bsds300 as B
from companion.data import downloads, offline

IMAGE_SHAPES = {"digits": (1, 8, 8), "faces": (1, 25, 25), "patches": (63,)}


# --------------------------------------------------------------------------- all offline sets


def test_import_and_small_loads_stay_light():
    code = (
        "import sys, companion.data as D; D.load('digits'); D.load('ring'); D.load_labels('grid');"
        "heavy = ('sklearn', 'skimage', 'scipy', 'matplotlib', 'torchvision');"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_names_lists_every_dataset():
    assert D.names() == D.NAMES
    expected = {"digits", "faces", "patches", "ring", "grid", "bars"}
    expected |= {"mnist", "cifar10", "bsds300"}
    assert set(D.NAMES) == expected
    assert set(D.SPLIT_SIZES) == set(D.NAMES)


@pytest.mark.parametrize("name", D.OFFLINE_NAMES)
def test_shapes_dtypes_sizes_and_ranges(name):
    for split in D.SPLITS:
        x = D.load(name, split)
        assert x.dtype == torch.float32
        assert x.shape[0] == D.SPLIT_SIZES[name][split]
        assert tuple(x.shape[1:]) == IMAGE_SHAPES.get(name, (2,))
        assert torch.isfinite(x).all()
        if name in ("digits", "faces"):
            assert x.min() >= 0 and x.max() <= 1


@pytest.mark.parametrize("name", D.OFFLINE_NAMES)
def test_loads_are_deterministic_and_fresh(name):
    first = D.load(name, "valid")
    first.fill_(123.0)  # a caller's change must not reach the cache
    again, third = D.load(name, "valid"), D.load(name, "valid")
    assert torch.equal(again, third)
    assert not (again == 123.0).all()
    assert again.data_ptr() != third.data_ptr()


def _rows(x: torch.Tensor) -> set:
    return {row.tobytes() for row in x.reshape(len(x), -1).numpy()}


@pytest.mark.parametrize("name", ["digits", "faces"])
def test_image_splits_are_disjoint_and_cover_the_source(name):
    parts = [_rows(D.load(name, s)) for s in D.SPLITS]
    assert sum(len(p) for p in parts) == sum(D.SPLIT_SIZES[name].values())  # no duplicates
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    if name == "digits":
        from sklearn.datasets import load_digits

        source = (load_digits().data / 16.0).astype(np.float32)
    else:
        import skimage.data

        source = skimage.data.lfw_subset()[:100].astype(np.float32)  # the faces only
    assert set().union(*parts) == _rows(torch.from_numpy(source))


def test_digit_labels_match_sklearn():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    scaled = (bunch.data / 16.0).astype(np.float32)
    target = {row.tobytes(): t for row, t in zip(scaled, bunch.target)}
    for split in D.SPLITS:
        x, y = D.load("digits", split), D.load_labels("digits", split)
        assert y.dtype == torch.int64 and y.shape == (len(x),)
        assert [target[r.tobytes()] for r in x.reshape(len(x), -1).numpy()] == y.tolist()
    assert set(D.load_labels("digits").tolist()) == set(range(10))
    y = D.load_labels("digits")
    zeros_and_ones = D.load("digits")[(y == 0) | (y == 1)]
    assert 200 < len(zeros_and_ones) < 330  # about a fifth of 1,297


def test_digits_hold_17_grey_levels():
    x = D.load("digits")
    levels = D.to_levels(x, 17)
    assert torch.equal(D.from_levels(levels, 17), x)  # x is exactly level / 16
    assert levels.min() == 0 and levels.max() == 16


# --------------------------------------------------------------------------- patches


def test_patches_follow_the_bsds300_preprocessing():
    for split in D.SPLITS:
        x = D.load("patches", split).double()
        full = torch.cat([x, -x.sum(1, keepdim=True)], dim=1)  # the dropped pixel, recovered
        pixels = torch.from_numpy(offline._patch_pixels(split).astype(np.float64))
        # full = (p + u)/256 - mean, so differences of pixels give differences of noise:
        # 256 (full_i - full_0) - (p_i - p_0) = u_i - u_0, with u ~ U[0, 1) independent.
        noise_diff = 256 * (full - full[:, :1]) - (pixels - pixels[:, :1])
        assert noise_diff.abs().max() < 1 + 1e-3
        assert abs(noise_diff[:, 1:].var().item() - 1 / 6) < 0.01  # var(U - U') = 1/6
        assert abs(noise_diff[:, 1:].mean().item()) < 0.01
        # the recovered patch spans less than one grey range: [0, 1) minus its mean
        assert (full.max(1).values - full.min(1).values).max() < 1


def test_patches_of_test_images_are_not_in_training():
    def textured(split):
        p = offline._patch_pixels(split)
        return {row.tobytes() for row in p[p.std(axis=1) > 3]}

    train, valid, test = textured("train"), textured("valid"), textured("test")
    assert len(train) > 30_000 and len(valid) > 5_000 and len(test) > 10_000
    assert not train & test and not valid & test
    assert not train & valid  # disjoint tiles: no patch appears in both


def test_patch_photographs_load_offline():
    for name in D.PATCH_TRAIN_IMAGES + D.PATCH_TEST_IMAGES:
        image = offline._photo(name)
        assert image.dtype == np.uint8 and image.ndim == 2 and min(image.shape) >= 256
        assert image.std() > 10  # a photograph, not a blank
    assert not set(D.PATCH_TRAIN_IMAGES) & set(D.PATCH_TEST_IMAGES)


# --------------------------------------------------------------------------- 2-D toys


@pytest.mark.parametrize("name,k,std", [("ring", 8, 0.01), ("grid", 25, 0.05)])
def test_toy_modes_have_the_specified_centres_and_std(name, k, std):
    centers = D.toy_centers(name)
    assert centers.shape == (k, 2) and centers.dtype == torch.float32
    assert D.toy_std(name) == std
    x, y = D.load(name), D.load_labels(name)
    assert torch.equal(torch.cdist(x, centers).argmin(1), y)  # modes are far apart
    counts = torch.bincount(y, minlength=k).double()
    expected = len(x) / k
    assert ((counts - expected).abs() < 5 * expected**0.5).all()  # equal weights
    for j in range(k):
        points = x[y == j].double()
        assert (points.mean(0) - centers[j]).abs().max() < 5 * std / len(points) ** 0.5
        assert ((points.std(0) / std) - 1).abs().max() < 0.2


def test_toy_centres_geometry():
    ring = D.toy_centers("ring").double()
    assert torch.allclose(ring.norm(dim=1), torch.ones(8, dtype=torch.float64), atol=1e-6)
    gaps = torch.cdist(ring, ring) + 10 * torch.eye(8)
    nearest = torch.full((8,), 2 * np.sin(np.pi / 8), dtype=torch.float64)
    assert torch.allclose(gaps.min(1).values, nearest, atol=1e-6)
    grid = {tuple(c) for c in D.toy_centers("grid").tolist()}
    axis = (-4.0, -2.0, 0.0, 2.0, 4.0)
    assert grid == {(i, j) for i in axis for j in axis}


def test_bars_geometry_and_gap():
    x, y = D.load("bars").double(), D.load_labels("bars")
    assert set(y.tolist()) == set(range(6))
    offsets = {0: 0.0, 1: -3.0, 2: 3.0, 3: 0.0, 4: 3.0, 5: -3.0}
    for k, offset in offsets.items():
        points = x[y == k]
        along, across = (points[:, 0], points[:, 1]) if k < 3 else (points[:, 1], points[:, 0])
        assert abs(across.mean() - offset) < 0.02 and abs(across.std() - 0.1) < 0.01
        assert along.min() >= -10 and along.max() <= 10 and abs(along.std() - 20 / 12**0.5) < 0.3
    upper = x[y == 2]
    in_gap = (upper[:, 0] >= 1.6) & (upper[:, 0] <= 2.6)
    assert in_gap.sum() == 0
    lower = x[y == 1]  # the same stretch of another bar is populated, ~1/20 of its points
    assert ((lower[:, 0] >= 1.6) & (lower[:, 0] <= 2.6)).sum() > 0.5 * len(lower) / 20
    for split in D.SPLITS:
        assert D.bars_gap_mask(D.load("bars", split)).sum() <= 1


def test_bars_gap_mask_marks_the_gap_only():
    points = torch.tensor(
        [[2.1, 3.0], [1.6, 2.75], [2.6, 3.29], [1.5, 3.0], [2.7, 3.0], [2.1, 3.4], [2.1, -3.0]]
    )
    assert D.bars_gap_mask(points).tolist() == [True, True, True, False, False, False, False]
    assert D.bars_gap_mask(points, half_width=0.5).tolist()[5] is True
    assert D.bars_gap_mask(points.double()).dtype == torch.bool


def test_sample_toy_is_deterministic_and_matches_the_splits_law():
    a, la = D.sample_toy("bars", 3000, seed=1)
    b, lb = D.sample_toy("bars", 3000, seed=1)
    c, _ = D.sample_toy("bars", 3000, seed=2)
    assert torch.equal(a, b) and torch.equal(la, lb) and not torch.equal(a, c)
    assert a.shape == (3000, 2) and a.dtype == torch.float32 and la.dtype == torch.int64
    assert D.bars_gap_mask(a).sum() <= 1
    ring, labels = D.sample_toy("ring", 500)
    assert torch.equal(torch.cdist(ring, D.toy_centers("ring")).argmin(1), labels)


# --------------------------------------------------------------------------- grey levels


def test_to_levels_and_back():
    x = torch.tensor([0.0, 0.1, 0.5, 0.96, 1.0])
    assert D.to_levels(x, 2).tolist() == [0, 0, 0, 1, 1]
    assert D.to_levels(x, 256).tolist() == [0, 26, 128, 245, 255]
    levels = torch.arange(256)
    assert torch.equal(D.to_levels(D.from_levels(levels, 256), 256), levels)
    assert D.to_levels(torch.empty(0), 4).shape == (0,)


@pytest.mark.parametrize(
    "bad,error",
    [(1, ValueError), (0, ValueError), (2.5, TypeError), (True, TypeError), ("8", TypeError)],
)
def test_bad_n_levels(bad, error):
    with pytest.raises(error, match="n_levels"):
        D.to_levels(torch.zeros(3), bad)
    with pytest.raises(error, match="n_levels"):
        D.from_levels(torch.zeros(3, dtype=torch.long), bad)


def test_bad_level_inputs():
    for x in (torch.tensor([-0.1]), torch.tensor([1.01]), torch.tensor([float("nan")])):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            D.to_levels(x, 4)
    with pytest.raises(TypeError, match="x must"):
        D.to_levels(torch.tensor([0, 1]), 4)
    with pytest.raises(TypeError, match="x must"):
        D.to_levels([0.5], 4)
    with pytest.raises(ValueError, match="levels must lie"):
        D.from_levels(torch.tensor([4]), 4)
    with pytest.raises(TypeError, match="levels must be an integer"):
        D.from_levels(torch.tensor([0.5]), 4)


# --------------------------------------------------------------------------- bad inputs


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match="name must be one of digits.*cifar10.*; got 'mnist3'"):
        D.load("mnist3")
    with pytest.raises(TypeError, match="name must be a str"):
        D.load(3)
    with pytest.raises(ValueError, match="split must be one of train, valid, test; got 'valid"):
        D.load("digits", "validation")
    with pytest.raises(ValueError, match="split"):
        D.load_labels("ring", None)
    with pytest.raises(ValueError, match="has no labels"):
        D.load_labels("faces")
    with pytest.raises(ValueError, match="has no labels"):
        D.load_labels("patches", "test")


def test_bad_toy_inputs():
    with pytest.raises(ValueError, match="ring, grid"):
        D.toy_centers("bars")
    with pytest.raises(ValueError, match="ring, grid, bars"):
        D.toy_std("digits")
    with pytest.raises(ValueError, match="n must be"):
        D.sample_toy("ring", 0)
    with pytest.raises(TypeError, match="n must be"):
        D.sample_toy("ring", 10.0)
    with pytest.raises(ValueError, match="seed"):
        D.sample_toy("ring", 10, seed=-1)
    with pytest.raises(ValueError, match="shape"):
        D.bars_gap_mask(torch.zeros(5, 3))
    with pytest.raises(TypeError, match="floating"):
        D.bars_gap_mask(torch.zeros(5, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="half_width"):
        D.bars_gap_mask(torch.zeros(5, 2), half_width=0)


# --------------------------------------------------------------------------- downloads


def _idx_bytes(array: np.ndarray) -> bytes:
    header = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write(path, data: bytes) -> str:
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _fake_mnist(folder, monkeypatch, n_train=12, n_test=5):
    """Write fake MNIST files to ``folder``; make their checksums the expected ones."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        monkeypatch.setitem(D.SHA256, name, _write(folder / name, gzip.compress(_idx_bytes(array))))
    return arrays


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty data folder, no torchvision, and a network that always fails."""
    monkeypatch.setenv(D.DATA_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(downloads, "_have_torchvision", lambda: False)

    def offline(url, path, timeout=60.0):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(downloads, "_download", offline)
    return tmp_path / "cache"


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(D.DATA_ENV, str(tmp_path))
    assert D.data_dir() == tmp_path
    monkeypatch.delenv(D.DATA_ENV)
    assert D.data_dir().parts[-2:] == (".cache", "companion")


@pytest.mark.parametrize(
    "name,file,stand_in",
    [
        ("mnist", "train-images-idx3-ubyte.gz", "digits"),
        ("cifar10", "cifar-10-binary.tar.gz", "faces"),
        ("bsds300", "BSDS300-images.tgz", "patches"),
    ],
)
def test_offline_download_error_says_what_to_do(cache, name, file, stand_in):
    with pytest.raises(D.DownloadError) as info:
        D.load(name)
    message = str(info.value)
    assert f"could not download {file} from https://" in message
    assert "Temporary failure in name resolution" in message
    assert "You are offline or the server is down" in message
    assert str(cache / name / file) in message
    assert f"'{stand_in}'" in message
    assert not (cache / name / file).exists()


def test_mnist_from_files_put_by_hand(cache, monkeypatch):
    arrays = _fake_mnist(cache / "mnist", monkeypatch)
    images, labels = arrays["train-images-idx3-ubyte.gz"], arrays["train-labels-idx1-ubyte.gz"]
    train, valid = D.load("mnist", "train"), D.load("mnist", "valid")
    assert train.shape == (10, 1, 28, 28) and valid.shape == (2, 1, 28, 28)  # last sixth is valid
    assert train.dtype == torch.float32
    both = torch.cat([train, valid])[:, 0] * 255
    assert torch.allclose(both, torch.from_numpy(images).float(), atol=1e-4)
    both_labels = torch.cat([D.load_labels("mnist", "train"), D.load_labels("mnist", "valid")])
    assert both_labels.tolist() == labels.tolist()
    test = D.load("mnist", "test")
    test_images = torch.from_numpy(arrays["t10k-images-idx3-ubyte.gz"])
    assert torch.equal(D.to_levels(test, 256)[:, 0], test_images)


def test_mnist_download_through_urllib(tmp_path, monkeypatch):
    server = tmp_path / "server"
    arrays = _fake_mnist(server, monkeypatch, n_train=6, n_test=3)
    monkeypatch.setenv(D.DATA_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(downloads, "_have_torchvision", lambda: False)
    # the first mirror is down, the second (a file:// URL, the real urllib path) answers
    mirrors = ((tmp_path / "missing").as_uri() + "/", server.as_uri() + "/")
    monkeypatch.setitem(downloads._MIRRORS, "mnist", mirrors)
    test = D.load("mnist", "test")
    assert test.shape == (3, 1, 28, 28)
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == sorted(arrays)


def test_checksum_mismatch_is_refused(cache, monkeypatch):
    _fake_mnist(cache / "mnist", monkeypatch)
    monkeypatch.setitem(D.SHA256, "t10k-labels-idx1-ubyte.gz", "0" * 64)
    with pytest.raises(D.DownloadError, match="SHA-256 .* expected 0{64}.*Delete it"):
        D.load("mnist", "test")


def test_idx_parser_rejects_bad_files(tmp_path):
    good = _idx_bytes(np.arange(24).reshape(2, 3, 4))
    (tmp_path / "good").write_bytes(good)
    assert downloads._read_idx(tmp_path / "good").tolist() == np.arange(24).reshape(2, 3, 4).tolist()
    bad_files = {
        "magic": b"\x00\x00\x0d\x01" + good[4:],
        "short": good[:-1],
        "empty": b"",
        "head": good[:6],
    }
    for name, data in bad_files.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=str(tmp_path / name)):
            downloads._read_idx(tmp_path / name)


def _fake_cifar10(folder, monkeypatch, per_batch=2, n_test=3):
    rng = np.random.default_rng(1)
    batches = {f"data_batch_{i}.bin": per_batch for i in range(1, 6)}
    batches["test_batch.bin"] = n_test
    contents = {}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, n in batches.items():
            labels = rng.integers(0, 10, n)
            images = rng.integers(0, 256, (n, 3, 32, 32))
            records = np.concatenate([labels[:, None], images.reshape(n, -1)], axis=1)
            records = records.astype(np.uint8)
            data = records.tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            contents[name] = (images, labels)
    folder.mkdir(parents=True, exist_ok=True)
    digest = _write(folder / "cifar-10-binary.tar.gz", buffer.getvalue())
    monkeypatch.setitem(D.SHA256, "cifar-10-binary.tar.gz", digest)
    return contents


def test_cifar10_from_a_binary_archive(cache, monkeypatch):
    contents = _fake_cifar10(cache / "cifar10", monkeypatch)
    train_images = np.concatenate([contents[f"data_batch_{i}.bin"][0] for i in range(1, 6)])
    train_labels = np.concatenate([contents[f"data_batch_{i}.bin"][1] for i in range(1, 6)])
    train, valid, test = (D.load("cifar10", s) for s in D.SPLITS)
    assert train.shape == (9, 3, 32, 32) and valid.shape == (1, 3, 32, 32)
    assert test.shape == (3, 3, 32, 32)
    levels = D.to_levels(torch.cat([train, valid]), 256)
    assert torch.equal(levels, torch.from_numpy(train_images).long())
    assert D.load_labels("cifar10", "valid").tolist() == train_labels[-1:].tolist()
    assert D.load_labels("cifar10", "test").tolist() == contents["test_batch.bin"][1].tolist()


def test_cifar10_parser_rejects_a_broken_batch(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
        info.size = 100
        tar.addfile(info, io.BytesIO(bytes(100)))
    (tmp_path / "a.tar.gz").write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="whole number of CIFAR-10 records"):
        downloads._read_cifar10(tmp_path / "a.tar.gz")


def _fake_torchvision(monkeypatch, fail=False):
    class FakeMNIST:
        def __init__(self, root, train, download):
            if fail:
                raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")
            n = 6 if train else 2
            self.data = torch.full((n, 28, 28), 51, dtype=torch.uint8)
            self.targets = torch.arange(n)

    datasets = types.ModuleType("torchvision.datasets")
    datasets.MNIST = FakeMNIST
    package = types.ModuleType("torchvision")
    package.datasets = datasets
    monkeypatch.setitem(sys.modules, "torchvision", package)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", datasets)
    monkeypatch.setattr(downloads, "_have_torchvision", lambda: True)


def test_torchvision_is_used_when_installed(cache, monkeypatch):
    _fake_torchvision(monkeypatch)
    train = D.load("mnist", "train")
    assert train.shape == (5, 1, 28, 28) and torch.allclose(train, torch.full_like(train, 0.2))
    assert D.load_labels("mnist", "valid").tolist() == [5]


def test_failing_torchvision_falls_back_to_the_plain_download(cache, monkeypatch):
    _fake_torchvision(monkeypatch, fail=True)
    with pytest.warns(UserWarning, match="torchvision could not provide mnist"):
        with pytest.raises(D.DownloadError, match="could not download"):
            D.load("mnist")


# --------------------------------------------------------------------------- BSDS300


def _fake_bsds300(path, monkeypatch, n_train=10, n_test=4, extra=()):
    """A small ``BSDS300-images.tgz`` at ``path``: random grey and colour JPEGs in the
    official folders (plus ``extra`` member names); the expected counts become these."""
    from PIL import Image

    rng = np.random.default_rng(2)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for part, n in (("train", n_train), ("test", n_test)):
            for k in range(n):
                shape = (20 + k % 3, 24) if k % 2 else (24, 20 + k % 3, 3)  # grey and colour
                image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
                data = io.BytesIO()
                image.save(data, format="JPEG", quality=95)
                info = tarfile.TarInfo(f"BSDS300/images/{part}/{1000 + k}.jpg")
                info.size = len(data.getvalue())
                tar.addfile(info, io.BytesIO(data.getvalue()))
        for name in ("BSDS300/iids_train.txt",) + tuple(extra):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    monkeypatch.setitem(B._BSDS300_COUNTS, "train", n_train)
    monkeypatch.setitem(B._BSDS300_COUNTS, "test", n_test)
    monkeypatch.setitem(D.SPLIT_SIZES, "bsds300", {"train": 3000, "valid": 500, "test": 1000})


def _grey_images(archive, part):
    """The grey levels of the JPEGs of ``part`` in ``archive``, decoded independently."""
    from PIL import Image

    out = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.name.startswith(f"BSDS300/images/{part}/"):
                with Image.open(tar.extractfile(member)) as image:
                    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
                # ITU-R 601 luma, as Pillow rounds it (to within one grey level)
                out[member.name] = rgb @ np.array([0.299, 0.587, 0.114])
    return out


def _windows(images):
    """Which image each 8x8 window (as bytes of rounded grey levels) comes from."""
    return {
        np.rint(w).astype(np.uint8).tobytes(): name
        for name, image in images.items()
        for w in np.lib.stride_tricks.sliding_window_view(image, (8, 8)).reshape(-1, 64)
    }


@pytest.fixture
def bsds300(cache, monkeypatch):
    """A fake BSDS300 archive in the (offline) cache folder, and fresh caches."""
    B._bsds300_images.cache_clear()
    B._bsds300_split.cache_clear()
    _fake_bsds300(cache / "bsds300" / "BSDS300-images.tgz", monkeypatch)
    yield cache / "bsds300" / "BSDS300-images.tgz"
    B._bsds300_images.cache_clear()
    B._bsds300_split.cache_clear()


def test_bsds300_shapes_and_preprocessing(bsds300):
    root = str(D.data_dir())
    for split in D.SPLITS:
        x = D.load("bsds300", split).double()
        assert x.shape == (D.SPLIT_SIZES["bsds300"][split], 63) and torch.isfinite(x).all()
        full = torch.cat([x, -x.sum(1, keepdim=True)], dim=1)  # the dropped pixel, recovered
        pixels = torch.from_numpy(B._bsds300_pixels(split, root).astype(np.float64))
        noise_diff = 256 * (full - full[:, :1]) - (pixels - pixels[:, :1])  # u_i - u_0
        assert noise_diff.abs().max() < 1 + 1e-3
        assert abs(noise_diff[:, 1:].var().item() - 1 / 6) < 0.01  # var(U - U') = 1/6
        assert abs(noise_diff[:, 1:].mean().item()) < 0.01
        assert (full.max(1).values - full.min(1).values).max() < 1
        assert torch.allclose(full.mean(1), torch.zeros(len(full), dtype=torch.float64), atol=1e-6)


def test_bsds300_patches_come_from_the_right_photographs(bsds300):
    root = str(D.data_dir())
    train_windows = _windows(_grey_images(bsds300, "train"))
    test_windows = _windows(_grey_images(bsds300, "test"))
    sources = {}
    for split in D.SPLITS:
        rows = B._bsds300_pixels(split, root)
        assert rows.dtype == np.uint8 and rows.shape == (D.SPLIT_SIZES["bsds300"][split], 64)
        # Pillow rounds 601 luma in fixed point: compare to within one grey level by
        # looking each patch up with its own values (exact hits are the vast majority).
        windows = test_windows if split == "test" else train_windows
        other = train_windows if split == "test" else test_windows
        hits = [windows.get(r.tobytes()) for r in rows]
        assert sum(h is not None for h in hits) > 0.9 * len(rows)
        assert not any(r.tobytes() in other for r in rows)
        sources[split] = {h for h in hits if h is not None}
    # 10 training photographs: one held out whole for validation, the other 9 for training
    assert len(sources["valid"]) == 1 and len(sources["train"]) == 9
    assert not sources["train"] & sources["valid"]
    assert len(sources["test"]) == 4


def test_bsds300_is_deterministic_and_in_random_order(bsds300):
    first = {s: D.load("bsds300", s) for s in D.SPLITS}
    B._bsds300_images.cache_clear()
    B._bsds300_split.cache_clear()
    for split in D.SPLITS:
        assert torch.equal(D.load("bsds300", split), first[split])  # recomputed, not cached
    # a prefix is a random subset: its patches come from every photograph in proportion
    root = str(D.data_dir())
    windows = _windows(_grey_images(bsds300, "test"))
    prefix = [windows.get(r.tobytes()) for r in B._bsds300_pixels("test", root)[:200]]
    assert len({h for h in prefix if h is not None}) == 4
    with pytest.raises(ValueError, match="has no labels"):
        D.load_labels("bsds300")


def test_bsds300_download_through_urllib(tmp_path, monkeypatch):
    B._bsds300_images.cache_clear()
    B._bsds300_split.cache_clear()
    _fake_bsds300(tmp_path / "server" / "BSDS300-images.tgz", monkeypatch)
    monkeypatch.setenv(D.DATA_ENV, str(tmp_path / "cache"))
    mirrors = ((tmp_path / "missing").as_uri() + "/", (tmp_path / "server").as_uri() + "/")
    monkeypatch.setitem(downloads._MIRRORS, "bsds300", mirrors)
    assert D.load("bsds300", "valid").shape == (500, 63)
    assert (tmp_path / "cache" / "bsds300" / "BSDS300-images.tgz").is_file()
    B._bsds300_images.cache_clear()
    B._bsds300_split.cache_clear()


@pytest.mark.parametrize(
    "n_train,n_test,extra", [(9, 4, ()), (10, 3, ()), (10, 4, ("BSDS300/images/test/x.jpg",))]
)
def test_bsds300_archive_with_the_wrong_structure_is_refused(
    cache, monkeypatch, n_train, n_test, extra
):
    B._bsds300_images.cache_clear()
    path = cache / "bsds300" / "BSDS300-images.tgz"
    _fake_bsds300(path, monkeypatch, n_train, n_test, extra)
    monkeypatch.setitem(B._BSDS300_COUNTS, "train", 10)
    monkeypatch.setitem(B._BSDS300_COUNTS, "test", 4)
    wrong = r"not the official BSDS300-images.tgz.*expected (10|4).*Delete it"
    with pytest.raises(D.DownloadError, match=wrong):
        D.load("bsds300", "test")
    assert path.exists()  # put there by hand: left for the user to look at


def test_bsds300_archive_that_is_not_a_tgz_is_refused(cache):
    B._bsds300_images.cache_clear()
    path = cache / "bsds300" / "BSDS300-images.tgz"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"<html>moved</html>")
    with pytest.raises(D.DownloadError, match="not a readable .tgz archive"):
        D.load("bsds300")


def test_the_package_exposes_every_public_name_of_its_modules():
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(D.__path__):
        module = importlib.import_module(f"companion.data.{info.name}")
        for name in getattr(module, "__all__", []):
            assert getattr(D, name) is getattr(module, name) and name in D.__all__, name
