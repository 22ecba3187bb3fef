"""Shared defaults: the paper-size DCGAN (ngf = ndf = 64, 64x64) with Radford's optimiser."""

import ml_collections

from inpaint_jax.configs import search
from inpaint_jax.configs import training


def get_config() -> ml_collections.ConfigDict:
  config = training.get_config()  # seed, dataset, Adam (Radford's: 2e-4, beta1 0.5), logging

  config.model = ml_collections.ConfigDict()
  config.model.z_dim = 100
  config.model.ngf = 64
  config.model.ndf = 64
  config.model.kernel_size = 4
  config.model.image_size = 64
  # How stride-2 (transposed) convs are computed (`models.layers.CONV_IMPLS`): 'auto' (what
  # this machine measured fastest, `commands.choose_backend`), 'subpixel' (stride-1 convs),
  # 'matmul' (matrix products) or 'xla' (flax's nn.ConvTranspose / nn.Conv). Same
  # parameters, same numbers (tests/test_models.py); never stored as a model's property.
  config.model.conv_impl = "auto"
  # What matrix products and convolutions multiply in: 'float32' or 'bfloat16' (parameters,
  # Adam, batch norm, losses and sums stay float32; BUILD_NOTES.md "Compute precision").
  config.model.compute_dtype = "float32"

  # Exponential moving average of G's weights (0: the average is the raw G); samples,
  # exported models and the search use it.
  config.ema_decay = 0.999
  # DiffAugment (Zhao et al. 2020) of what D sees: '' (off, the paper) or a comma-separated
  # subset of 'color,translation,cutout' (`train.augment`); for small datasets.
  config.diff_augment = ""
  # Start from the G and D of a model file or workdir (fine-tuning) instead of random weights.
  config.init_from = ""

  # The latent search (Sec. 3.2-3.4). Adam's step size is not in the paper: see BUILD_NOTES.md.
  config.search = search.defaults()  # the paper's; every command sets its own (configs/search.py)

  # The latent encoder's architecture (set from its file when one is loaded).
  config.encoder = ml_collections.ConfigDict()
  config.encoder.nf = 32

  return config
