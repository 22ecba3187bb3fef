"""The Context Encoder baseline (Pathak et al., CVPR 2016): the CE column of Table 1.

An encoder-decoder maps the masked image, its holes pre-filled with the dataset's mean
colour, to a whole image; a channel-wise fully connected layer in the middle lets every
output location see the whole context without the cost of a full dense layer. It is
trained with the masked l2 reconstruction loss plus an adversarial loss (weight 0.001);
the discriminator is the DCGAN's (`dcgan.Discriminator`). Its losses and training are in
`train/context_encoder.py`.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from inpaint_jax.models import dcgan
from inpaint_jax.models import layers


class ChannelwiseDense(nn.Module):
  """Per channel, a dense layer over the spatial positions: [B, H, W, C] -> [B, H, W, C].

  C separate (HW x HW) matrices: C * (HW)^2 weights instead of the (C * HW)^2 of a full
  dense layer (Pathak et al. Sec. 3.1).
  """

  dtype: str = "float32"  # what the products multiply in; float32 sums and output

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b, h, w, c = x.shape
    kernel = self.param("kernel", nn.initializers.normal(0.02), (c, h * w, h * w))
    bias = self.param("bias", nn.initializers.zeros, (c, h * w))
    dt = layers.compute_dtype(self.dtype)
    # A batched product: XLA:CPU's has no bfloat16 x bfloat16 -> float32 kernel, so it
    # returns the input dtype (its kernels sum bfloat16 products in float32 internally).
    y = jnp.einsum("bpc,cpq->bqc", x.reshape(b, h * w, c).astype(dt),
                   kernel.astype(dt)).astype(jnp.float32) + bias.T
    return y.reshape(b, h, w, c)


class ContextEncoder(nn.Module):
  """Masked image [B, S, S, 3] in [-1, 1] (holes pre-filled) -> whole image [B, S, S, 3] (tanh).

  Encoder: stride-2 convs, nf, 2nf, ... down to 4x4 (LeakyReLU 0.2, batch norm after the
  first); channel-wise dense; a 1x1 conv across channels; decoder: the mirror image with
  stride-2 transposed convs (ReLU, batch norm) and tanh.
  """

  nf: int = 64
  kernel_size: int = 4
  image_size: int = 64
  conv_impl: str = "subpixel"
  compute_dtype: str = "float32"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    steps = layers.num_resolution_steps(self.image_size)
    k, impl, dt = self.kernel_size, self.conv_impl, self.compute_dtype
    features = self.nf
    x = nn.leaky_relu(layers.downsample(impl, features, k, True, "enc0", dt)(x), 0.2)
    for i in range(1, steps):
      features *= 2
      x = layers.downsample(impl, features, k, False, f"enc{i}", dt)(x)
      x = nn.leaky_relu(layers.batch_norm(train, f"bn_enc{i}")(x), 0.2)
    x = ChannelwiseDense(dtype=dt, name="channelwise")(x)
    x = nn.Conv(features, (1, 1), kernel_init=nn.initializers.normal(0.02),
                dtype=layers.compute_dtype(dt), name="mix")(x).astype(jnp.float32)
    x = nn.relu(layers.batch_norm(train, "bn_mix")(x))
    for i in range(steps - 1):
      features //= 2
      x = layers.upsample(impl, features, k, False, f"dec{i}", dt)(x)
      x = nn.relu(layers.batch_norm(train, f"bn_dec{i}")(x))
    x = layers.upsample(impl, 3, k, True, f"dec{steps - 1}", dt)(x)
    return jnp.tanh(x)


def build_models(model_config: ml_collections.ConfigDict):
  """The context encoder and its discriminator from a CE `config.model` block."""
  impl, dtype = layers.compute_policy(model_config)
  encoder = ContextEncoder(nf=model_config.nf, kernel_size=model_config.kernel_size,
                           image_size=model_config.image_size, conv_impl=impl,
                           compute_dtype=dtype)
  discriminator = dcgan.Discriminator(ndf=model_config.ndf, kernel_size=model_config.kernel_size,
                                       image_size=model_config.image_size, conv_impl=impl,
                                       compute_dtype=dtype)
  return encoder, discriminator


def prefill(images: jax.Array, masks: jax.Array, fill_colour: jax.Array) -> jax.Array:
  """The CE's input: known pixels kept, holes set to the dataset's mean colour.

  images: [B, S, S, 3] in [-1, 1]; masks: [B, S, S], 1 = known; fill_colour: [3].
  """
  return jnp.where(masks[..., None] > 0, images, fill_colour)


def composite(images: jax.Array, predicted: jax.Array, masks: jax.Array) -> jax.Array:
  """Known pixels from `images`, the hole from `predicted` (what the CE returns)."""
  return jnp.where(masks[..., None] > 0, images, predicted)


def fill(variables: dict, images: jax.Array, masks: jax.Array, fill_colour: jax.Array,
         model_config: ml_collections.ConfigDict) -> jax.Array:
  """Inpaints with a trained CE (running batch statistics): [B, S, S, 3] in [-1, 1].

  Known pixels are returned unchanged; the hole is the network's prediction.
  """
  encoder, _ = build_models(model_config)
  predicted = encoder.apply(variables, prefill(images, masks, fill_colour), train=False)
  return composite(images, predicted, masks)
