"""The IM2GPS locator: nearest neighbours in scene-feature space, then voting.

:class:`Im2GPS` follows the scikit-learn estimator contract: ``__init__``
stores parameters only, :meth:`Im2GPS.fit` builds (or adopts) an index of
geotagged photos and returns ``self``, learned attributes end in ``_``,
:meth:`Im2GPS.predict` returns :class:`~im2gps.predictions.Predictions`, and
:meth:`Im2GPS.save` / :meth:`Im2GPS.load` write and read a plain directory.

References
----------
.. [1] J. Hays and A. A. Efros, "IM2GPS: estimating geographic information
   from a single image", CVPR 2008.
.. [2] N. Vo, N. Jacobs and J. Hays, "Revisiting IM2GPS in the deep learning
   era", ICCV 2017 (kNN on CNN features).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from im2gps.features import CLASSICAL
from im2gps.features.sift import LocalFeatures, LocalFeatureSet
from im2gps.index import GeoIndex, build_index
from im2gps.index.local import load_local_features
from im2gps.locators import LocatorMixin
from im2gps.photos import (
    DECODE_SIDE,
    PhotoCollection,
    PhotoError,
    check_image_array,
    load_image,
)
from im2gps.predictions import Predictions
from im2gps.verify import Verifier, verification_weights, verify_short_lists
from im2gps.voting import DEFAULT_BANDWIDTH_KM, kde_vote, meanshift, one_nn

__all__ = ["Im2GPS", "extract_each", "load_images"]

LOCATOR_FILE = "locator.json"
_QUIET = [False]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Fit locators without the small-database warning (benchmarks and CV compare on purpose)."""
    previous, _QUIET[0] = _QUIET[0], True
    try:
        yield
    finally:
        _QUIET[0] = previous


def load_images(images: Sequence[np.ndarray | str | os.PathLike] | str | os.PathLike
                ) -> tuple[list[np.ndarray | None], list[str | None]]:
    """Decode paths and check arrays; failures become ``None`` with a reason.

    ``images`` is a sequence of image paths or ``(H, W, 3)`` uint8 arrays; a
    single path (a ``str`` or ``Path``) is taken as one photo. Paths are
    decoded at :data:`~im2gps.photos.DECODE_SIDE` (big JPEGs at a reduced
    scale); a photo that cannot be used (unreadable, too small, not an RGB
    array) gets ``None`` and its reason, naming the file or the position.
    """
    if isinstance(images, str | os.PathLike):
        images = [images]
    out: list[np.ndarray | None] = []
    errors: list[str | None] = []
    for position, image in enumerate(images):
        try:
            if isinstance(image, str | os.PathLike):
                out.append(load_image(image, max_side=DECODE_SIDE))
            else:
                out.append(check_image_array(image, where=f"image {position}"))
            errors.append(None)
        except PhotoError as err:
            out.append(None)
            errors.append(str(err))
    return out, errors


def extract_each(index: GeoIndex, images: list[np.ndarray | None], errors: list[str | None]
                 ) -> dict[str, np.ndarray]:
    """Raw descriptors of each image, NaN rows where it is None or an extractor fails.

    The images are extracted as one batch; should that fail, one by one, so
    that only the images an extractor fails on get NaN rows (and their reason
    in ``errors``, which is updated in place).
    """
    dims = {name: ex.dim for name, ex in index.extractors.items()}
    full = {name: np.full((len(images), dim), np.nan, np.float32) for name, dim in dims.items()}
    ok = [i for i, image in enumerate(images) if image is not None]
    if not ok:
        return full
    try:
        matrices = index.extract([images[i] for i in ok])
        for name, matrix in matrices.items():
            full[name][ok] = matrix
        return full
    except Exception:  # noqa: BLE001 - find the images that fail, one by one
        pass
    for i in ok:
        try:
            vectors = index.extract([images[i]])
        except Exception as err:  # noqa: BLE001 - any extractor failure fails that photo
            errors[i] = f"image {i}: feature extraction failed: {type(err).__name__}: {err}"
            continue
        for name, matrix in vectors.items():
            full[name][i] = matrix[0]
    return full


class Im2GPS(LocatorMixin):
    """Data-driven geolocation: kNN over geotagged photos plus mean-shift voting.

    Parameters
    ----------
    features : sequence of str or mapping, optional
        Features of the index (names, or name -> extractor parameters). Used
        when :meth:`fit` builds an index; an adopted index keeps its own.
    k : int, optional
        Neighbours that vote (120 in the paper).
    vote : {"meanshift", "1nn", "kde"}, optional
        Voting rule: the mode of the mean-shift cluster holding the most
        neighbours (the paper), the location of the single nearest neighbour,
        or the neighbour with the highest kernel density among the neighbours
        (Vo et al. 2017).
    bandwidth_km : float, optional
        Mean-shift / kernel-density bandwidth in great-circle km.
    kernel : {"gaussian", "flat"}, optional
        Mean-shift kernel.
    vote_weights : {"uniform", "similarity", "density"}, optional
        ``"uniform"``: every neighbour has one vote (the paper).
        ``"similarity"``: votes weighted by ``exp(-(d^2 - d_1^2) / (2 s^2))``
        with ``d`` the feature distance, ``d_1`` the nearest neighbour's and
        ``s`` the median neighbour distance of that query.
        ``"density"``: votes divided by the database's photo density at the
        neighbour's location (kernel bandwidth ``density_km``), so that a
        place counts by how unusually many neighbours it holds, not by how
        many database photos it has.
    density_km : float, optional
        Bandwidth of the database density for ``vote_weights="density"``.
    feature_weights : mapping of str to float, optional
        Per-feature weights of the combined distance when building.
    index_type : str, optional
        FAISS factory string when building (``"Flat"``: exact).
    nprobe, ef_search, rerank : int, optional
        Query settings of a compressed index (see :meth:`GeoIndex.search`):
        inverted lists visited, HNSW beam width, length of the short list
        re-ranked with exact distances. None: the index's own settings.
    jobs : int, optional
        Processes for feature extraction when building.
    progress : bool, optional
        Show progress bars.
    verification : {"off", "weight", "best"}, optional
        Geometric verification of the ``short_list`` nearest neighbours
        (:mod:`im2gps.verify`; needs the index's local features,
        :func:`im2gps.index.local.add_local_features`). ``"weight"``: a
        verified neighbour's vote weighs ``1 + verify_alpha * inliers``;
        ``"best"``: where a neighbour verifies, the one with most inliers
        alone answers. Choose it by cross-validation on the database
        (:func:`im2gps.tuning.cross_validate_verification`).
    verify_alpha : float, optional
        Vote weight per inlier of a verified neighbour (``"weight"``).
    short_list : int, optional
        Nearest neighbours verified per query.
    verifier : mapping, optional
        Thresholds of :class:`im2gps.verify.Verifier` (default: its defaults).

    Attributes
    ----------
    index_ : GeoIndex
        The index of geotagged database photos (after :meth:`fit`).
    """

    def __init__(
        self,
        features: Sequence[str] | Mapping[str, Mapping[str, Any]] = CLASSICAL,
        k: int = 120,
        vote: str = "meanshift",
        bandwidth_km: float = DEFAULT_BANDWIDTH_KM,
        kernel: str = "gaussian",
        vote_weights: str = "uniform",
        density_km: float = 200.0,
        feature_weights: Mapping[str, float] | None = None,
        index_type: str = "Flat",
        nprobe: int | None = None,
        ef_search: int | None = None,
        rerank: int | None = None,
        jobs: int = 1,
        progress: bool = False,
        verification: str = "off",
        verify_alpha: float = 1.0,
        short_list: int = 20,
        verifier: Mapping[str, float] | None = None,
    ) -> None:
        self.features = features
        self.k = k
        self.vote = vote
        self.bandwidth_km = bandwidth_km
        self.kernel = kernel
        self.vote_weights = vote_weights
        self.density_km = density_km
        self.feature_weights = feature_weights
        self.index_type = index_type
        self.nprobe = nprobe
        self.ef_search = ef_search
        self.rerank = rerank
        self.jobs = jobs
        self.progress = progress
        self.verification = verification
        self.verify_alpha = verify_alpha
        self.short_list = short_list
        self.verifier = verifier

    # -- estimator contract --------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-ready)."""
        features = self.features
        if not isinstance(features, Mapping):
            features = list(features)
        return {
            "features": features,
            "k": self.k,
            "vote": self.vote,
            "bandwidth_km": self.bandwidth_km,
            "kernel": self.kernel,
            "vote_weights": self.vote_weights,
            "density_km": self.density_km,
            "feature_weights": dict(self.feature_weights or {}),
            "index_type": self.index_type,
            "nprobe": self.nprobe,
            "ef_search": self.ef_search,
            "rerank": self.rerank,
            "jobs": self.jobs,
            "progress": self.progress,
            "verification": self.verification,
            "verify_alpha": self.verify_alpha,
            "short_list": self.short_list,
            "verifier": dict(self.verifier) if self.verifier else None,
        }

    def set_params(self, **params: Any) -> Im2GPS:
        """Change parameters (the voting ones apply to a fitted locator at once)."""
        for key, value in params.items():
            if key not in self.get_params():
                raise ValueError(f"unknown parameter {key!r} of Im2GPS")
            setattr(self, key, value)
        return self

    def fit(self, photos: PhotoCollection | GeoIndex | str | os.PathLike,
            index_dir: str | os.PathLike | None = None) -> Im2GPS:
        """Build the index of database photos, or adopt an existing one.

        Parameters
        ----------
        photos : PhotoCollection, GeoIndex, or str or Path
            Database photos (a collection, a folder with EXIF GPS, a CSV
            manifest), an index directory, or a loaded :class:`GeoIndex`.
        index_dir : str or Path, optional
            Where to build the index (a temporary directory by default).

        Returns
        -------
        Im2GPS
            ``self``.
        """
        self._check_params()
        if isinstance(photos, GeoIndex):
            self.index_ = photos
        elif isinstance(photos, (str, os.PathLike)) and (Path(photos) / "manifest.json").is_file():
            self.index_ = GeoIndex.load(photos)
        else:
            if index_dir is None:
                index_dir = Path(tempfile.mkdtemp(prefix="im2gps-")) / "index"
            from im2gps.index.cache import FeatureCache

            self.index_ = build_index(
                photos, index_dir, features=self.features, weights=self.feature_weights,
                index_type=self.index_type, jobs=self.jobs, progress=self.progress,
                cache=FeatureCache(),  # the user cache: photos seen before are not decoded
            )
        # an adopted index brings its own features: get_params() tells the truth
        self.features = list(self.index_.feature_names)
        self._warn_small(len(self.index_))
        return self

    def _warn_small(self, n: int) -> None:
        """Warn when k is close to the database size: the vote then sees every photo.

        Silent inside :func:`quiet`, where a benchmark or a cross-validation
        compares such settings on purpose.
        """
        if self.vote != "1nn" and int(self.k) >= 0.5 * n and not _QUIET[0]:
            warnings.warn(f"k = {self.k} neighbours out of a database of {n} photos: every "
                          "query's vote covers most of the database, so answers lean to its "
                          "densest place (on small samples of im2gps2k that scored as well as "
                          "smaller k, benchmarks/results/small_k.md; check your collection "
                          "with im2gps.tuning.cross_validate)", UserWarning, stacklevel=3)

    def _check_params(self) -> None:
        if self.vote not in ("meanshift", "1nn", "kde"):
            raise ValueError(f"vote must be 'meanshift', '1nn' or 'kde', not {self.vote!r}")
        if self.vote_weights not in ("uniform", "similarity", "density"):
            raise ValueError(f"vote_weights must be 'uniform', 'similarity' or 'density', "
                             f"not {self.vote_weights!r}")
        if int(self.k) < 1:
            raise ValueError(f"k must be at least 1, not {self.k}")
        if self.verification not in ("off", "weight", "best"):
            raise ValueError(f"verification must be 'off', 'weight' or 'best', "
                             f"not {self.verification!r}")

    def _fitted(self) -> GeoIndex:
        if not hasattr(self, "index_"):
            raise RuntimeError("this Im2GPS locator is not fitted: call fit() or Im2GPS.load()")
        return self.index_

    # -- prediction ----------------------------------------------------------
    def kneighbors(self, matrices: dict[str, np.ndarray], k: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Feature distances and database rows of the ``k`` nearest photos."""
        return self._fitted().search(matrices, k or self.k, **self._search_settings())

    def predict(self, images: Sequence[np.ndarray | str | os.PathLike]) -> Predictions:
        """Locate photos given as RGB arrays or image paths.

        Parameters
        ----------
        images : sequence of str, Path or numpy.ndarray, or one str or Path
            Image paths or ``(H, W, 3)`` uint8 RGB arrays; a single path is
            one photo.

        Returns
        -------
        Predictions
            One row per image. A photo that cannot be used (unreadable, too
            small, not an RGB array, an extractor failing on it) fails: NaN
            estimate, ``failed`` true, the reason naming the file in
            ``errors``; the others are answered as usual.
        """
        index = self._fitted()
        decoded, errors = load_images(images)
        full = extract_each(index, decoded, errors)
        local = None
        if self.verification != "off":
            sift = self.local_features_().extractor()
            local = [None if image is None else sift.detect(image) for image in decoded]
        predictions = self.predict_features(full, local=local)
        predictions.errors = [error or default for error, default in
                              zip(errors, predictions.errors, strict=True)]
        return predictions

    def predict_features(self, matrices: dict[str, np.ndarray],
                         local: Sequence[LocalFeatures | None] | None = None) -> Predictions:
        """Locate photos from raw descriptors (rows with any NaN fail).

        Parameters
        ----------
        matrices : dict of str to numpy.ndarray
            ``(n, dim_f)`` raw descriptors for every feature of the index.
        local : sequence of LocalFeatures or None, optional
            The photos' local features (None for a failed photo), needed
            when ``verification`` is on.

        Raises
        ------
        ValueError
            If verification is on and ``local`` is missing.
        """
        self._check_params()
        index = self._fitted()
        n = len(next(iter(matrices.values())))
        ok = np.ones(n, bool)
        for name in index.feature_names:
            ok &= np.isfinite(matrices[name]).all(axis=1)
        k = min(int(self.k), len(index))
        ids = np.full((n, k), -1, np.int64)
        dist = np.full((n, k), np.nan, np.float32)
        if ok.any():
            d, i = index.search({name: np.ascontiguousarray(matrices[name][ok])
                                 for name in index.feature_names}, k, **self._search_settings())
            dist[ok], ids[ok] = d, i
        if self.verification == "off":
            return self.vote_on(ids, dist)
        if local is None or len(local) != n:
            raise ValueError("verification needs the local features of every photo (local=)")
        scores = verify_short_lists(local, self.local_features_(), ids[:, :self.short_list])
        predictions = self.vote_on(ids, dist, boost=self.verification_boost(scores, k))
        predictions.extra["verification"] = scores
        return predictions

    def verification_boost(self, scores: dict[str, np.ndarray], k: int) -> np.ndarray:
        """``(n, k)`` vote multipliers from the short list's verification scores."""
        verifier = Verifier(**(self.verifier or {}))
        verified = verifier.verified(scores["inliers"], scores["inlier_ratio"], scores["spread"])
        weights = verification_weights(scores["inliers"], verified, self.verification,
                                       self.verify_alpha)
        rest = np.ones((len(weights), max(k - weights.shape[1], 0)))
        if self.verification == "best":
            rest[verified.any(axis=1)] = 0.0
        return np.concatenate([weights, rest], axis=1)[:, :k]

    def local_features_(self) -> LocalFeatureSet:
        """The index's local features (loaded once)."""
        index = self._fitted()
        if getattr(self, "_local_key", None) != id(index):
            self._local = load_local_features(index)
            self._local_key = id(index)
        return self._local

    def _search_settings(self) -> dict[str, int | None]:
        return {"nprobe": self.nprobe, "ef_search": self.ef_search, "rerank": self.rerank}

    def vote_on(self, ids: np.ndarray, dist: np.ndarray, boost: np.ndarray | None = None
                ) -> Predictions:
        """Vote with given neighbours (database rows, -1 for none) and distances.

        ``boost`` (``(n, k)``, optional) multiplies each neighbour's vote
        weight (geometric verification).
        """
        coords = self._fitted().coords
        valid = ids >= 0
        lat = np.where(valid, coords[np.maximum(ids, 0), 0], np.nan)
        lon = np.where(valid, coords[np.maximum(ids, 0), 1], np.nan)
        weights = None
        if self.vote_weights == "similarity":
            weights = similarity_weights(dist)
        elif self.vote_weights == "density":
            weights = np.where(valid, 1.0 / self._database_density()[np.maximum(ids, 0)], 0.0)
        if boost is not None:
            weights = boost if weights is None else weights * boost
            if self.vote == "1nn":  # the best-weighted neighbour answers
                order = np.argsort(-weights, axis=1, kind="stable")
                lat = np.take_along_axis(lat, order, axis=1)
                lon = np.take_along_axis(lon, order, axis=1)
        if self.vote == "1nn":
            votes = one_nn(lat, lon)
        elif self.vote == "kde":
            votes = kde_vote(lat, lon, bandwidth_km=self.bandwidth_km, weights=weights)
        else:
            votes = meanshift(lat, lon, bandwidth_km=self.bandwidth_km, weights=weights,
                              kernel=self.kernel)
        failed = ~valid[:, 0] if valid.shape[1] else np.ones(len(ids), bool)
        errors = [("no neighbours (the photo failed)" if f else None) for f in failed]
        return Predictions(votes.lat, votes.lon, failed, errors, votes=votes,
                           neighbor_ids=ids, neighbor_distances=dist)

    def _database_density(self) -> np.ndarray:
        """Photo density of the database at each database photo (cached per bandwidth)."""
        coords = self._fitted().coords
        key = (id(self.index_), len(coords), float(self.density_km))
        if getattr(self, "_density_key", None) != key:
            from im2gps.evaluate import kernel_density  # scikit-learn: only for kde

            self._density = kernel_density(coords[:, 0], coords[:, 1], coords[:, 0],
                                           coords[:, 1], self.density_km)
            self._density_key = key
        return self._density

    # -- persistence ---------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the index directory plus ``locator.json`` (the parameters).

        The index is copied unless ``path`` is already its directory.
        """
        index = self._fitted()
        path = Path(path)
        if path.resolve() != index.path.resolve():
            from im2gps.atomic import atomic_directory

            with atomic_directory(path) as tmp:
                shutil.copytree(index.path, tmp, dirs_exist_ok=True)
                (tmp / LOCATOR_FILE).write_text(json.dumps(self.get_params(), indent=2))
        else:
            (path / LOCATOR_FILE).write_text(json.dumps(self.get_params(), indent=2))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, verify: bool = True,
             warm_up: bool = False) -> Im2GPS:
        """Read a locator written by :meth:`save` (or a bare index directory).

        ``verify`` and ``warm_up`` are :meth:`GeoIndex.load <im2gps.index.GeoIndex.load>`'s.
        """
        path = Path(path)
        params: dict[str, Any] = {}
        if (path / LOCATOR_FILE).is_file():
            params = json.loads((path / LOCATOR_FILE).read_text())
        index = GeoIndex.load(path, verify=verify, warm_up=warm_up)
        params["features"] = index.feature_names
        with warnings.catch_warnings():  # a saved locator was warned about when it was made
            warnings.simplefilter("ignore", UserWarning)
            return cls(**params).fit(index)


def similarity_weights(dist: np.ndarray) -> np.ndarray:
    """Vote weights ``exp(-(d^2 - d_1^2) / (2 s^2))`` per query row (NaN -> 0)."""
    dist = np.asarray(dist, dtype=np.float64)
    d1 = np.nanmin(np.where(np.isfinite(dist), dist, np.inf), axis=1, keepdims=True)
    with warnings.catch_warnings():  # a failed photo's row is all NaN: its weights are 0
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = np.nanmedian(np.where(np.isfinite(dist), dist, np.nan), axis=1, keepdims=True)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    weights = np.exp(-(dist**2 - d1**2) / (2 * scale**2))
    return np.where(np.isfinite(weights), weights, 0.0)
