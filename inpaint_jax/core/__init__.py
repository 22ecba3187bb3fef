"""The paper's method in pure JAX, no file I/O: Eq. 3-6 losses, the latent search (Eq. 2),
Poisson blending (Eq. 4) and `inpaint`, the one function every entry point calls."""
