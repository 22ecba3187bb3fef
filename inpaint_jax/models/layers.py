"""Layers shared by the DCGAN, the latent encoder and the Context Encoder: stride-2
convolutions in three forms with the same parameters and numbers (sub-pixel stride-1
convolutions, matrix products, flax's), the compute precision (products in float32 or
bfloat16, float32 sums), batch norm with the reference DCGAN's settings, N(0, 0.02) init."""

from __future__ import annotations

import functools
import math
import os

import flax.linen as nn
import jax
import jax.numpy as jnp

# Radford et al. / the reference TF DCGAN: N(0, 0.02) weights, BN momentum 0.9, eps 1e-5.
INIT = nn.initializers.normal(stddev=0.02)
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5


def num_resolution_steps(image_size: int) -> int:
  """Number of stride-2 layers between a 4x4 map and `image_size` (3 for 32, 4 for 64)."""
  if image_size not in (32, 64):
    raise ValueError(f"image_size must be 32 or 64, got {image_size}")
  return int(math.log2(image_size // 4))


_DIMS = ("NHWC", "HWIO", "NHWC")
CONV_IMPLS = ("subpixel", "xla", "matmul")
# The fields of a `config.model` block that choose how, not what, a network computes: never
# part of a model's identity (resuming, model files, recorded cell settings).
POLICY_FIELDS = ("conv_impl", "compute_dtype")
COMPUTE_DTYPES = ("float32", "bfloat16")


def compute_dtype(name: str) -> jnp.dtype:
  """The dtype of `model.compute_dtype` ('float32' | 'bfloat16'): what every matrix product
  and convolution multiplies in. Parameters, batch norm, activations between layers and
  every sum stay float32 (products are accumulated in float32)."""
  if name not in COMPUTE_DTYPES:
    raise ValueError(f"model.compute_dtype must be one of {', '.join(COMPUTE_DTYPES)}, got {name!r}")
  return jnp.dtype(name)


# The environment variable through which the process's backend choice
# (`commands.choose_backend`, `backend.CONV_IMPL_ENV`) names the form for conv_impl 'auto'.
CONV_IMPL_ENV = "INPAINT_JAX_CONV_IMPL"


def compute_policy(model_config) -> tuple[str, str]:
  """(conv_impl, compute_dtype) of a `config.model` block, both checked; conv_impl 'auto'
  (the default) is the form this process's backend choice measured fastest
  ($INPAINT_JAX_CONV_IMPL), else 'subpixel'. Every form gives the same numbers."""
  impl = model_config.get("conv_impl", "auto")
  if impl == "auto":
    impl = os.environ.get(CONV_IMPL_ENV, "") or "subpixel"
  if impl not in CONV_IMPLS:
    raise ValueError(f"model.conv_impl must be 'auto' or one of {', '.join(CONV_IMPLS)}, got {impl!r}")
  dtype = model_config.get("compute_dtype", "float32")
  compute_dtype(dtype)
  return impl, dtype


def _accumulator(dtype) -> jnp.dtype:
  return jnp.dtype(jnp.float32) if jnp.dtype(dtype).itemsize < 4 else jnp.dtype(dtype)


def _phase_taps(k: int, phase: int) -> tuple[int, int, int]:
  """(first tap, padding low, padding high) of one output phase of a stride-2 SAME
  transposed convolution with a k-tap kernel.

  lax.conv_transpose pads the 2x-dilated input by (ceil(k/2), floor(k/2)), so output
  2m + r reads input m + d for taps t with r + t - ceil(k/2) = 2d: every other tap.
  """
  pad_a = -(-k // 2)
  first = (pad_a - phase) % 2
  taps = len(range(first, k, 2))
  d0 = (phase + first - pad_a) // 2
  return first, -d0, d0 + taps - 1


def conv_transpose_2x(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Stride-2 'SAME' transposed conv, [B, H, W, I] -> [B, 2H, 2W, O], kernel [k, k, I, O].

  Equals `lax.conv_transpose(x, kernel, (2, 2), 'SAME')` (flax's nn.ConvTranspose) but
  runs four stride-1 convolutions, one per output phase, on the input itself instead
  of one convolution over a zero-dilated input (4x fewer multiply-adds, fast paths).
  """
  k = kernel.shape[0]
  rows = []
  for r in (0, 1):
    fr, lo_r, hi_r = _phase_taps(k, r)
    cols = []
    for c in (0, 1):
      fc, lo_c, hi_c = _phase_taps(k, c)
      cols.append(jax.lax.conv_general_dilated(
          x, kernel[fr::2, fc::2].astype(x.dtype), (1, 1), ((lo_r, hi_r), (lo_c, hi_c)),
          dimension_numbers=_DIMS, preferred_element_type=_accumulator(x.dtype)))
    rows.append(jnp.stack(cols, axis=3))  # [B, H, W, 2 (c), O]
  y = jnp.stack(rows, axis=2)  # [B, H, 2 (r), W, 2 (c), O]
  b, h, _, w, _, o = y.shape
  return y.reshape(b, 2 * h, 2 * w, o)


def conv_2x(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Stride-2 'SAME' conv, [B, H, W, I] -> [B, H/2, W/2, O], kernel [k, k, I, O], H, W even.

  Equals flax's nn.Conv(strides=2, padding='SAME') but pads, folds 2x2 pixel blocks into
  channels (space-to-depth) and runs one stride-1 convolution: its gradient with respect
  to the input is then an ordinary convolution too, not a dilated one.
  """
  k, _, i, o = kernel.shape
  pad_lo = (k - 2) // 2
  pad_hi = k - 2 - pad_lo + (k % 2)  # odd k: one extra zero row so the length stays even
  x = jnp.pad(x, ((0, 0), (pad_lo, pad_hi), (pad_lo, pad_hi), (0, 0)))
  b, h, w, _ = x.shape
  x = x.reshape(b, h // 2, 2, w // 2, 2, i).transpose(0, 1, 3, 2, 4, 5).reshape(b, h // 2, w // 2, 4 * i)
  a = -(-k // 2)
  kp = jnp.pad(kernel, ((0, 2 * a - k), (0, 2 * a - k), (0, 0), (0, 0)))  # taps 2a + b
  kp = kp.reshape(a, 2, a, 2, i, o).transpose(0, 2, 1, 3, 4, 5).reshape(a, a, 4 * i, o)
  return jax.lax.conv_general_dilated(x, kp.astype(x.dtype), (1, 1), "VALID", dimension_numbers=_DIMS,
                                      preferred_element_type=_accumulator(x.dtype))


def _matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """x [..., K] @ kernel [K, N] in x's dtype, summed and returned in float32."""
  return jax.lax.dot_general(x, kernel.astype(x.dtype), (((x.ndim - 1,), (0,)), ((), ())),
                             preferred_element_type=_accumulator(x.dtype))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _shifted_sum(z: jax.Array, groups: tuple, out_h: int, out_w: int) -> jax.Array:
  """[B, out_h, out_w, G, O]: group g the sum over its taps (dy, dx, t) of
  z[:, dy:dy + out_h, dx:dx + out_w, t], z [B, H, W, T, O]; every tap plane t in exactly one
  group. The gradient is written by hand: each plane's cotangent is its group's, padded
  back to its shift, and the planes are stacked (one write of z's size), where autodiff
  would add one padded copy of z per tap."""
  def plane(dy, dx, t):
    return jax.lax.slice(z, (0, dy, dx, t, 0),
                         (z.shape[0], dy + out_h, dx + out_w, t + 1, z.shape[4]))[:, :, :, 0]
  return jnp.stack([functools.reduce(jnp.add, [plane(*tap) for tap in group])
                    for group in groups], axis=3)


def _shifted_sum_fwd(z, groups, out_h, out_w):
  return _shifted_sum(z, groups, out_h, out_w), z.shape


def _shifted_sum_bwd(groups, out_h, out_w, shape, g):
  _, h, w, t_count, _ = shape
  where = {t: (gi, dy, dx) for gi, group in enumerate(groups) for dy, dx, t in group}
  assert sorted(where) == list(range(t_count)), "each tap plane in exactly one group"
  planes = []
  for t in range(t_count):
    gi, dy, dx = where[t]
    planes.append(jnp.pad(g[:, :, :, gi], ((0, 0), (dy, h - out_h - dy), (dx, w - out_w - dx),
                                           (0, 0))))
  return (jnp.stack(planes, axis=3),)


_shifted_sum.defvjp(_shifted_sum_fwd, _shifted_sum_bwd)


def conv_2x_matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """`conv_2x` as one matrix product: the padded input folded space-to-depth ([B, H', W',
  4I]) times every tap of the folded a x a kernel at once ([4I, a*a*O]), then the a*a
  tap planes summed at their shifts. Its gradients are one product each (input and
  kernel) after the shifts' transpose (pads), where XLA's convolution gradients are
  dilated convolutions."""
  k, _, i, o = kernel.shape
  a = -(-k // 2)
  pad_lo = (k - 2) // 2
  pad_hi = k - 2 - pad_lo + (k % 2)
  x = jnp.pad(x, ((0, 0), (pad_lo, pad_hi), (pad_lo, pad_hi), (0, 0)))
  b, h, w, _ = x.shape
  x = x.reshape(b, h // 2, 2, w // 2, 2, i).transpose(0, 1, 3, 2, 4, 5).reshape(b, h // 2, w // 2, 4 * i)
  kp = jnp.pad(kernel, ((0, 2 * a - k), (0, 2 * a - k), (0, 0), (0, 0)))
  kp = kp.reshape(a, 2, a, 2, i, o).transpose(1, 3, 4, 0, 2, 5).reshape(4 * i, a * a * o)
  z = _matmul(x, kp).reshape(b, h // 2, w // 2, a * a, o)
  taps = tuple((p, q, p * a + q) for p in range(a) for q in range(a))
  return _shifted_sum(z, (taps,), h // 2 - a + 1, w // 2 - a + 1)[:, :, :, 0]


def conv_transpose_2x_matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """`conv_transpose_2x` as one matrix product, input [B*H*W, I] times every tap
  ([I, k*k*O]), then each output phase the sum of its taps' planes at their shifts
  (col2im), the four phases interleaved into [B, 2H, 2W, O]."""
  k, _, i, o = kernel.shape
  b, h, w, _ = x.shape
  phases = [_phase_taps(k, r) for r in (0, 1)]
  lo = max(p[1] for p in phases)
  hi = max(p[2] for p in phases)
  z = _matmul(x, kernel.transpose(2, 0, 1, 3).reshape(i, k * k * o)).reshape(b, h, w, k * k, o)
  z = jnp.pad(z, ((0, 0), (lo, hi), (lo, hi), (0, 0), (0, 0)))
  groups = []
  for first_r, lo_r, _ in phases:
    for first_c, lo_c, _ in phases:
      # phase output m reads input m + u - lo_r with tap first_r + 2u (conv_transpose_2x).
      groups.append(tuple((lo - lo_r + u, lo - lo_c + v, (first_r + 2 * u) * k + first_c + 2 * v)
                          for u in range(len(range(first_r, k, 2)))
                          for v in range(len(range(first_c, k, 2)))))
  y = _shifted_sum(z, tuple(groups), h, w).reshape(b, h, w, 2, 2, o)  # [B, H, W, r, c, O]
  return y.transpose(0, 1, 3, 2, 4, 5).reshape(b, 2 * h, 2 * w, o)


class Stride2Conv(nn.Module):
  """Drop-in for nn.ConvTranspose (transpose=True) or nn.Conv (transpose=False) with a
  k x k kernel, stride 2 and 'SAME' padding: same parameters, computed sub-pixel or as
  matrix products, multiplied in `dtype`, returned in float32."""

  features: int
  kernel_size: int
  transpose: bool
  use_bias: bool = True
  matmul: bool = False  # the matrix-product forms (conv_2x_matmul, conv_transpose_2x_matmul)
  dtype: str = "float32"
  kernel_init: nn.initializers.Initializer = INIT

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", self.kernel_init,
                        (self.kernel_size, self.kernel_size, x.shape[-1], self.features))
    if self.matmul:
      conv = conv_transpose_2x_matmul if self.transpose else conv_2x_matmul
    else:
      conv = conv_transpose_2x if self.transpose else conv_2x
    y = conv(x.astype(compute_dtype(self.dtype)), kernel).astype(jnp.float32)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y


class Dense(nn.Module):
  """nn.Dense multiplied in `dtype` (float32 parameters), returned in float32."""

  features: int
  use_bias: bool = True
  dtype: str = "float32"
  kernel_init: nn.initializers.Initializer = INIT

  @nn.compact
  def __call__(self, x):
    dtype = compute_dtype(self.dtype)
    kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features))
    y = _matmul(x.astype(dtype), kernel).astype(jnp.float32)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y


def _stride2(impl: str, transpose: bool, features: int, k: int, use_bias: bool, name: str,
             dtype: str) -> nn.Module:
  if impl in ("subpixel", "matmul"):
    return Stride2Conv(features, k, transpose, use_bias=use_bias, matmul=impl == "matmul",
                       dtype=dtype, name=name)
  if impl == "xla":
    flax_conv = nn.ConvTranspose if transpose else nn.Conv
    conv = flax_conv(features, (k, k), strides=(2, 2), padding="SAME", use_bias=use_bias,
                     kernel_init=INIT, dtype=compute_dtype(dtype), name=name)
    return lambda x: conv(x).astype(jnp.float32)
  raise ValueError(f"model.conv_impl must be one of {', '.join(CONV_IMPLS)}, got {impl!r}")


def upsample(impl: str, features: int, k: int, use_bias: bool, name: str,
             dtype: str = "float32") -> nn.Module:
  """A stride-2 'SAME' transposed conv by `impl` (CONV_IMPLS; same parameters, same numbers)."""
  return _stride2(impl, True, features, k, use_bias, name, dtype)


def downsample(impl: str, features: int, k: int, use_bias: bool, name: str,
               dtype: str = "float32") -> nn.Module:
  """A stride-2 'SAME' conv by `impl` (CONV_IMPLS; same parameters, same numbers)."""
  return _stride2(impl, False, features, k, use_bias, name, dtype)


def batch_norm(train: bool, name: str) -> nn.BatchNorm:
  return nn.BatchNorm(
      use_running_average=not train,
      momentum=_BN_MOMENTUM,
      epsilon=_BN_EPSILON,
      scale_init=lambda key, shape, dtype=jnp.float32: 1.0 + 0.02 * jax.random.normal(key, shape, dtype),
      name=name,
  )
