"""Problems: data + target (layer 3).  Small frozen dataclasses with validated fields."""
from .committee import Committee
from .glm import GLM
from .lowrank import NoiseProfile, SpikedWigner, SpikedWishart

__all__ = ["Committee", "GLM", "NoiseProfile", "SpikedWigner", "SpikedWishart"]
