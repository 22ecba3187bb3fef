"""Differentiable augmentation of every image D sees (DiffAugment, Zhao et al. NeurIPS 2020).

D is trained on augmented real and augmented fake images, and G's loss looks through the
same kind of augmentation, so D cannot memorise a small training set (Stanford Cars: 6,644
images) while G still learns the un-augmented distribution: every operation here is
differentiable in the image. Written for one image and `vmap`ped; each image draws its own
parameters from its own key.

Policies (comma-separated, applied in this order, as in the paper's reference):
  color:       brightness + U[-0.5, 0.5), saturation x U[0, 2), contrast x U[0.5, 1.5)
  translation: integer shift of up to 1/8 of the side in each axis, zero padded
  cutout:      a square of half the side set to 0, centred anywhere in the image
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
  """'color,translation' -> ('color', 'translation'); '' -> (). ValueError names an unknown one."""
  names = tuple(p.strip() for p in policy.split(",") if p.strip())
  unknown = [p for p in names if p not in POLICIES]
  if unknown:
    raise ValueError(f"unknown augmentation {unknown[0]!r} in {policy!r}: choose from {POLICIES}")
  return names


def draw_params(rng: jax.Array, size: int) -> dict:
  """One image's random parameters for a [size, size, 3] image (every policy's, so a key
  always means the same augmentation whatever the policy)."""
  k = jax.random.split(rng, 5)
  shift = size // 8
  cut = size // 2
  return {
      "brightness": jax.random.uniform(k[0], ()) - 0.5,
      "saturation": jax.random.uniform(k[1], ()) * 2.0,
      "contrast": jax.random.uniform(k[2], ()) + 0.5,
      "shift": jax.random.randint(k[3], (2,), -shift, shift + 1),
      # The cutout square's top-left corner; the square may hang over the border.
      "corner": jax.random.randint(k[4], (2,), 0, size + (1 - cut % 2)) - cut // 2,
  }


def color(x: jax.Array, p: dict) -> jax.Array:
  """Brightness, saturation, contrast of one [S, S, 3] image in [-1, 1] (not clipped)."""
  x = x + p["brightness"]
  mean_c = x.mean(axis=-1, keepdims=True)
  x = (x - mean_c) * p["saturation"] + mean_c
  mean = x.mean()
  return (x - mean) * p["contrast"] + mean


def translate(x: jax.Array, p: dict) -> jax.Array:
  """x shifted by p['shift'] = (rows, cols) pixels, zeros shifted in. [S, S, C]."""
  size = x.shape[0]
  pad = size // 8
  padded = jnp.pad(x, ((pad, pad), (pad, pad), (0, 0)))
  dy, dx = p["shift"][0], p["shift"][1]
  return jax.lax.dynamic_slice(padded, (pad - dy, pad - dx, 0), x.shape)


def cutout(x: jax.Array, p: dict) -> jax.Array:
  """x with a square of half its side, top-left at p['corner'] (clipped to the image), zeroed."""
  size = x.shape[0]
  cut = size // 2
  rows = jnp.arange(size)
  inside_r = (rows >= p["corner"][0]) & (rows < p["corner"][0] + cut)
  inside_c = (rows >= p["corner"][1]) & (rows < p["corner"][1] + cut)
  keep = 1.0 - (inside_r[:, None] & inside_c[None, :]).astype(x.dtype)
  return x * keep[:, :, None]


_OPS = {"color": color, "translation": translate, "cutout": cutout}


def augment_one(x: jax.Array, rng: jax.Array, policy: Sequence[str]) -> jax.Array:
  """One [S, S, 3] image through the `policy` operations with parameters drawn from rng."""
  p = draw_params(rng, x.shape[0])
  for name in policy:
    x = _OPS[name](x, p)
  return x


def augment(images: jax.Array, rng: jax.Array, policy: Sequence[str]) -> jax.Array:
  """[B, S, S, 3] images, each augmented with its own key (fold_in(rng, i)); () is identity."""
  if not policy:
    return images
  keys = jax.vmap(lambda i: jax.random.fold_in(rng, i))(jnp.arange(images.shape[0]))
  return jax.vmap(lambda x, k: augment_one(x, k, tuple(policy)))(images, keys)
