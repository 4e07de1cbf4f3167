"""Problems: data + target (layer 3).  Small frozen dataclasses with validated fields."""
from .glm import GLM

__all__ = ["GLM"]
