"""DCGAN generator and discriminator (Radford et al., 2016) as used by Yeh et al. (2017).

Both networks are plain Flax linen modules. `train=True` uses batch statistics and
updates the running averages (collection `batch_stats`); `train=False` uses the
running averages, so each image is processed independently of the rest of its batch,
as the latent search requires.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from inpaint_jax.models import layers


class Generator(nn.Module):
  """G: z in [-1, 1]^z_dim -> image [B, S, S, 3] in [-1, 1] (tanh), S = image_size."""

  ngf: int = 64
  kernel_size: int = 4
  image_size: int = 64
  channels: int = 3
  conv_impl: str = "subpixel"  # layers.CONV_IMPLS: same parameters, same numbers
  compute_dtype: str = "float32"  # layers.COMPUTE_DTYPES: what products multiply in

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
    steps = layers.num_resolution_steps(self.image_size)
    features = self.ngf * 2 ** (steps - 1)  # 8*ngf at 64x64
    dt = self.compute_dtype
    x = layers.Dense(4 * 4 * features, use_bias=False, dtype=dt, name="project")(z)
    x = x.reshape(z.shape[0], 4, 4, features)
    x = nn.relu(layers.batch_norm(train, "bn_project")(x))
    for i in range(steps - 1):
      features //= 2
      x = layers.upsample(self.conv_impl, features, self.kernel_size, False, f"deconv{i}", dt)(x)
      x = nn.relu(layers.batch_norm(train, f"bn_deconv{i}")(x))
    x = layers.upsample(self.conv_impl, self.channels, self.kernel_size, True,
                        f"deconv{steps - 1}", dt)(x)
    return jnp.tanh(x)


class Discriminator(nn.Module):
  """D: image [B, S, S, 3] in [-1, 1] -> logit [B] (D(x) = sigmoid(logit)); its layers'
  activations are sown to 'intermediates' (`discriminator_features`)."""

  ndf: int = 64
  kernel_size: int = 4
  image_size: int = 64
  conv_impl: str = "subpixel"  # layers.CONV_IMPLS: same parameters, same numbers
  compute_dtype: str = "float32"  # layers.COMPUTE_DTYPES: what products multiply in

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    steps = layers.num_resolution_steps(self.image_size)
    features, dt = self.ndf, self.compute_dtype
    x = layers.downsample(self.conv_impl, features, self.kernel_size, True, "conv0", dt)(x)
    x = nn.leaky_relu(x, 0.2)
    self.sow("intermediates", "features", x)
    for i in range(1, steps):
      features *= 2
      x = layers.downsample(self.conv_impl, features, self.kernel_size, False, f"conv{i}", dt)(x)
      x = nn.leaky_relu(layers.batch_norm(train, f"bn_conv{i}")(x), 0.2)
      self.sow("intermediates", "features", x)
    x = x.reshape(x.shape[0], -1)
    return layers.Dense(1, dtype=dt, name="logit")(x)[:, 0]


def discriminator_features(discriminator: Discriminator, d_vars: dict, x: jax.Array
                           ) -> tuple[jax.Array, ...]:
  """D's activations after each stride-2 layer (running statistics), [B, S/2^l, S/2^l, C_l]."""
  _, state = discriminator.apply(d_vars, x, train=False, mutable=["intermediates"])
  return state["intermediates"]["features"]


def build_models(model_config: ml_collections.ConfigDict) -> tuple[Generator, Discriminator]:
  """Generator and discriminator from a `config.model` block."""
  impl, dtype = layers.compute_policy(model_config)
  g = Generator(ngf=model_config.ngf, kernel_size=model_config.kernel_size,
                image_size=model_config.image_size, conv_impl=impl, compute_dtype=dtype)
  d = Discriminator(ndf=model_config.ndf, kernel_size=model_config.kernel_size,
                    image_size=model_config.image_size, conv_impl=impl, compute_dtype=dtype)
  return g, d


def init_variables(model_config: ml_collections.ConfigDict, rng: jax.Array):
  """Initial `{'params', 'batch_stats'}` of G and D for `config.model`."""
  g, d = build_models(model_config)
  g_rng, d_rng = jax.random.split(rng)
  z = jnp.zeros((1, model_config.z_dim), jnp.float32)
  x = jnp.zeros((1, model_config.image_size, model_config.image_size, 3), jnp.float32)
  g_vars = g.init(g_rng, z, train=False)
  d_vars = d.init(d_rng, x, train=False)
  return g_vars, d_vars
