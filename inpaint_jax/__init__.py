"""inpaint-jax: Semantic Image Inpainting with Deep Generative Models (Yeh et al., 2017) in JAX."""

__version__ = "0.1.0"
