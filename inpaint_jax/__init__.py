"""inpaint-jax: Semantic Image Inpainting with Deep Generative Models (Yeh et al., 2017) in JAX."""

__version__ = "0.17.0"

import os as _os

# The bundled model files and demo faces (package data).
ASSETS = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "assets")
