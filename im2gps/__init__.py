"""im2gps: where was this photo taken?

The data-driven geolocation of Hays & Efros (IM2GPS, CVPR 2008) -- scene
features, a kNN index over geotagged photos, mean-shift voting -- beside a
pluggable PlaNet classifier (Weyand et al., ECCV 2016).
"""

from im2gps.photos import PhotoCollection, PhotoError, load_image, read_gps

__version__ = "0.1.0"

__all__ = ["PhotoCollection", "PhotoError", "load_image", "read_gps", "__version__"]
