"""Bag of visual words over RootSIFT, tf-idf weighted: the ``bow`` feature.

The later im2gps (Hays & Efros, 2015) adds a bag of SIFT words to its scene
features, and object retrieval since Sivic & Zisserman (2003) describes a
photo by how often each *visual word* occurs in it: local descriptors
(:mod:`im2gps.features.sift`) are quantised to their nearest centre of a
vocabulary learned by k-means, the counts are weighted by tf-idf, and photos
are compared by the cosine of their vectors. Rare words (a particular window
pattern, an inscription) weigh more than words every photo has (sky, grass).

For one photo with ``n_d`` descriptors, ``n_w`` of which fall in word ``w``,
the vector is ``v_w = (n_w / n_d) * log(N / N_w)``, L2-normalised, where
``N`` is the number of photos the vocabulary was fitted on and ``N_w`` how
many of them contain word ``w``. With unit vectors the L2 distance is a
monotone function of the cosine (``||a - b||^2 = 2 - 2 cos``), so the
feature is searched like any other by the index's FAISS L2 machinery
(exact, or an inverted file at scale) and combines with the scene features
in :mod:`im2gps.index.combine`.

References
----------
.. [1] J. Sivic and A. Zisserman, "Video Google: a text retrieval approach to
   object matching in videos", ICCV 2003.
.. [2] J. Philbin, O. Chum, M. Isard, J. Sivic and A. Zisserman, "Object
   retrieval with large vocabularies and fast spatial matching", CVPR 2007.
.. [3] J. Hays and A. A. Efros, "Large-scale image geolocalization", in
   Multimodal Location Estimation of Videos and Images, Springer 2015.
.. [4] R. Arandjelović and A. Zisserman, "Three things everyone should know
   to improve object retrieval", CVPR 2012.

Notes
-----
Departures from the papers:

* **Vocabulary size.** Retrieval systems use 10^5 - 10^6 words learned on
  millions of descriptors (approximate k-means); here the vocabulary is
  learned by exact FAISS k-means on the photos given to :meth:`fit` (the
  index build's seeded fitting sample of 200 photos), and its size
  (``n_words``) is chosen by photographer-grouped cross-validation on the
  im2gps2k database (``benchmarks/landmarks.py``: bag-of-words 1-NN of
  held-out photographers' photos, score = mean accuracy at 25 / 200 / 750 /
  2500 km): 256 words scored 7.0 %, 1,024 words 6.4 % and 4,096 words
  7.0 %, all within noise of each other and of chance on a database
  without repeated landmarks, so the smallest, fastest size is the
  default. Collections with landmarks will want more words: pass
  ``n_words``.
* **idf** is measured on the fitting photos, not on the whole database, so
  that the vector of a photo does not change when photos are added.
* **Dense vectors.** The tf-idf vector is stored dense (``n_words`` float32
  per photo) so that it goes through the same FAISS index as the scene
  features; an inverted file over sparse words (as in Video Google) would
  be smaller for large vocabularies.
* Each descriptor votes for one word (hard assignment), with no burstiness
  correction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import faiss
import numpy as np

from im2gps.features.base import FeatureExtractor
from im2gps.features.sift import DESCRIPTOR_SCALE, LocalFeatureSet, RootSIFT

__all__ = ["BagOfWords"]


class BagOfWords(FeatureExtractor):
    """tf-idf bag of RootSIFT visual words (``"bow"``).

    Parameters
    ----------
    n_words : int, optional
        Vocabulary size (k-means centres); 256, chosen by cross-validation
        on im2gps2k (see Notes of the module).
    max_keypoints, max_side : int, optional
        RootSIFT settings (see :class:`~im2gps.features.sift.RootSIFT`).
    n_iter : int, optional
        k-means iterations.
    seed : int, optional
        k-means seed.

    Attributes
    ----------
    vocabulary : numpy.ndarray or None
        ``(n_words, 128)`` float32 centres in RootSIFT space, after :meth:`fit`.
    idf : numpy.ndarray or None
        ``(n_words,)`` float32 inverse document frequencies ``log(N / N_w)``.
    """

    name = "bow"
    distance = "l2"
    needs_fit: ClassVar[bool] = True

    def __init__(self, n_words: int = 256, max_keypoints: int = 400, max_side: int = 640,
                 n_iter: int = 20, seed: int = 0) -> None:
        if int(n_words) != n_words or n_words < 2:
            raise ValueError(f"n_words must be an integer of at least 2, got {n_words!r}")
        self.n_words = int(n_words)
        self.sift = RootSIFT(max_keypoints=max_keypoints, max_side=max_side)
        self.n_iter = int(n_iter)
        self.seed = int(seed)
        self.vocabulary: np.ndarray | None = None
        self.idf: np.ndarray | None = None
        self._quantizer: Any = None

    @property
    def dim(self) -> int:
        """Length of the vector: the vocabulary size."""
        return self.n_words

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters."""
        return {"n_words": self.n_words, "max_keypoints": self.sift.max_keypoints,
                "max_side": self.sift.max_side, "n_iter": self.n_iter, "seed": self.seed}

    def state(self) -> dict[str, np.ndarray]:
        """The vocabulary and the idf weights (empty before :meth:`fit`)."""
        if self.vocabulary is None or self.idf is None:
            return {}
        return {"vocabulary": self.vocabulary, "idf": self.idf}

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the vocabulary and idf weights."""
        vocabulary = np.ascontiguousarray(arrays["vocabulary"], dtype=np.float32)
        idf = np.asarray(arrays["idf"], dtype=np.float32)
        if vocabulary.shape != (self.n_words, 128) or idf.shape != (self.n_words,):
            raise ValueError(f"vocabulary {vocabulary.shape} / idf {idf.shape} do not fit "
                             f"n_words={self.n_words}")
        self.vocabulary, self.idf, self._quantizer = vocabulary, idf, None

    def __getstate__(self) -> dict[str, Any]:  # the FAISS quantizer is rebuilt on demand
        return dict(self.__dict__, _quantizer=None)

    # -- learning --------------------------------------------------------------
    def fit(self, images: Iterable[np.ndarray]) -> BagOfWords:
        """Learn the vocabulary and idf weights from the RootSIFT of sample photos."""
        return self.fit_local(self.sift.detect_many(images))

    def fit_local(self, features: LocalFeatureSet) -> BagOfWords:
        """Learn the vocabulary and idf weights from photos' local features.

        Parameters
        ----------
        features : LocalFeatureSet
            RootSIFT features of the fitting photos (made with this
            extractor's settings).

        Raises
        ------
        ValueError
            If there are fewer descriptors than words.
        """
        descriptors = _as_float(features.descriptors)
        if len(descriptors) < self.n_words:
            raise ValueError(f"{len(descriptors)} descriptors cannot make {self.n_words} "
                             "visual words; fit on more photos or choose fewer words")
        kmeans = faiss.Kmeans(128, self.n_words, niter=self.n_iter, seed=self.seed,
                              verbose=False)
        kmeans.train(descriptors)
        self.vocabulary = np.ascontiguousarray(kmeans.centroids, dtype=np.float32)
        self.idf = np.ones(self.n_words, np.float32)  # needed by assign(); replaced below
        self._quantizer = None
        words = self.assign(features.descriptors)
        photo = np.repeat(np.arange(len(features)), features.counts)
        pairs = np.unique(photo.astype(np.int64) * self.n_words + words)
        document_frequency = np.bincount(pairs % self.n_words, minlength=self.n_words)
        n = max(len(features), 1)
        self.idf = np.log(n / np.maximum(document_frequency, 1)).astype(np.float32)
        return self

    # -- encoding --------------------------------------------------------------
    def assign(self, descriptors: np.ndarray) -> np.ndarray:
        """Nearest visual word of each uint8 RootSIFT descriptor, ``(m,)`` int64."""
        if self.vocabulary is None:
            raise RuntimeError("the bag of words is not fitted: call fit() or load it")
        if self._quantizer is None:
            self._quantizer = faiss.IndexFlatL2(128)
            self._quantizer.add(self.vocabulary)
        if len(descriptors) == 0:
            return np.zeros(0, np.int64)
        _, words = self._quantizer.search(_as_float(descriptors), 1)
        return words[:, 0].astype(np.int64)

    def encode(self, features: LocalFeatureSet) -> np.ndarray:
        """tf-idf vectors of photos from their local features.

        Parameters
        ----------
        features : LocalFeatureSet
            RootSIFT features of ``n`` photos.

        Returns
        -------
        numpy.ndarray
            ``(n, n_words)`` float32, rows of unit L2 norm; a photo without
            keypoints (or only words of zero idf) gets a zero row.
        """
        counts = features.counts
        out = np.zeros((len(features), self.n_words), np.float32)
        step = max(1, (1 << 24) // self.n_words)  # photos per bincount, ~64 MB of counts
        for start in range(0, len(features), step):
            stop = min(start + step, len(features))
            a, b = int(features.offsets[start]), int(features.offsets[stop])
            words = self.assign(np.asarray(features.descriptors[a:b]))
            photo = np.repeat(np.arange(stop - start), counts[start:stop])
            tf = np.bincount(photo * self.n_words + words,
                             minlength=(stop - start) * self.n_words)
            out[start:stop] = tf.reshape(stop - start, self.n_words)
        out /= np.maximum(counts, 1)[:, None].astype(np.float32)
        out *= self.idf[None, :]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.where(norms > 0, out / np.maximum(norms, 1e-12), 0.0).astype(np.float32)

    def extract(self, image: np.ndarray) -> np.ndarray:
        """tf-idf vector of one ``(H, W, 3)`` uint8 RGB photo, ``(n_words,)`` float32."""
        return self.encode(LocalFeatureSet.from_list([self.sift.detect(image)]))[0]

    def transform(self, images: Iterable[np.ndarray]) -> np.ndarray:
        """tf-idf vectors of many photos, ``(n, n_words)`` float32."""
        return self.encode(self.sift.detect_many(images))


def _as_float(descriptors: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(descriptors, dtype=np.float32)
                                / np.float32(DESCRIPTOR_SCALE))
