"""E: a masked image -> a starting z for the latent search (after Lahiri et al., CVPR 2020).

E reads the known pixels and the mask (4 channels) through the DCGAN discriminator's
stride-2 trunk and maps them to z in [-1, 1]^z_dim (tanh). `train=False` uses the
running batch-norm statistics, so each image's z depends on that image alone.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from inpaint_jax.models import layers


class LatentEncoder(nn.Module):
  """E: (image [B, S, S, 3] in [-1, 1], mask [B, S, S], 1 = known) -> z [B, z_dim] in [-1, 1]."""

  z_dim: int = 100
  nf: int = 32
  kernel_size: int = 4
  image_size: int = 64
  conv_impl: str = "subpixel"
  compute_dtype: str = "float32"

  @nn.compact
  def __call__(self, image: jax.Array, mask: jax.Array, train: bool = False) -> jax.Array:
    m = mask[..., None]
    x = jnp.concatenate([image * m, m], axis=-1)  # missing pixels read as 0, whatever they hold
    features, dt = self.nf, self.compute_dtype
    x = nn.leaky_relu(layers.downsample(self.conv_impl, features, self.kernel_size, True,
                                        "conv0", dt)(x), 0.2)
    for i in range(1, layers.num_resolution_steps(self.image_size)):
      features *= 2
      x = layers.downsample(self.conv_impl, features, self.kernel_size, False, f"conv{i}", dt)(x)
      x = nn.leaky_relu(layers.batch_norm(train, f"bn_conv{i}")(x), 0.2)
    x = x.reshape(x.shape[0], -1)
    return jnp.tanh(layers.Dense(self.z_dim, dtype=dt, name="z")(x))


def build(encoder_config: ml_collections.ConfigDict, model_config: ml_collections.ConfigDict
          ) -> LatentEncoder:
  """E for the DCGAN `model_config` (its z_dim, image size, conv impl and compute dtype) with
  `encoder_config.nf`."""
  impl, dtype = layers.compute_policy(model_config)
  return LatentEncoder(z_dim=model_config.z_dim, nf=encoder_config.nf,
                       kernel_size=model_config.kernel_size, image_size=model_config.image_size,
                       conv_impl=impl, compute_dtype=dtype)


def init_variables(encoder_config, model_config, rng: jax.Array) -> dict:
  """Initial `{'params', 'batch_stats'}` of E."""
  s = model_config.image_size
  return build(encoder_config, model_config).init(
      rng, jnp.zeros((1, s, s, 3), jnp.float32), jnp.ones((1, s, s), jnp.float32), train=False)
