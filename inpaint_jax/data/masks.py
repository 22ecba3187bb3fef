"""Binary masks `[H, W]` float32, 1 = known pixel, 0 = missing; each a function of its seed.

The four mask types of Yeh et al. Sec. 4.1 and Table 1:
  center   the central block, half the side (32x32 of 64x64);
  pattern  the Context Encoder's random pattern: a low-resolution uniform noise field,
           upsampled bicubically and thresholded (< 0.25), cropped where 20-30% is missing;
  random   80% of pixels missing, independently per pixel, the same for all channels;
  half     the left, right, top or bottom half missing, chosen by the seed.
and `from_png`, a user's mask file. Evaluation draws them on the host from a seed per
image (`make_masks`); training draws them inside the jitted step from the step's key
(`draw_batch`: the same four types, nothing left for the host to do per step).
"""

from __future__ import annotations

from typing import Sequence

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from inpaint_jax.data import images as images_lib

MASK_TYPES = ("center", "pattern", "random", "half")


def check_types(kinds, what: str = "mask types") -> None:
  """ValueError naming `what` (e.g. the flag) where `kinds` is empty or holds a name that is
  not a mask type: before any work."""
  unknown = [k for k in kinds if k not in MASK_TYPES]
  if unknown or not kinds:
    raise ValueError(f"{what}: unknown mask type(s) {unknown if unknown else '(none given)'}; "
                     f"choose from {', '.join(MASK_TYPES)}")

# The Context Encoder's pattern masks (Pathak et al. 2016).
PATTERN_THRESHOLD = 0.25
PATTERN_MISSING_BAND = (0.20, 0.30)
# One noise cell per ~16 output pixels gives blobs the size of the CE's examples.
_PATTERN_CELL = 16
_PATTERN_TILE = 4  # the pattern is drawn at 4x the image side, then cropped
_PATTERN_CANDIDATES = 64
_DRAW_GROUP = 16  # crops tried per field on the device (all at once)
RANDOM_MISSING = 0.8


def center(size: int) -> np.ndarray:
  m = np.ones((size, size), np.float32)
  q = size // 4
  m[q:size - q, q:size - q] = 0.0
  return m


def random_pixels(size: int, rng: np.random.Generator, missing: float = RANDOM_MISSING) -> np.ndarray:
  return (rng.random((size, size)) >= missing).astype(np.float32)


def half(size: int, rng: np.random.Generator) -> np.ndarray:
  m = np.ones((size, size), np.float32)
  h = size // 2
  side = int(rng.integers(4))
  if side == 0:
    m[:, :h] = 0.0  # left
  elif side == 1:
    m[:, h:] = 0.0  # right
  elif side == 2:
    m[:h, :] = 0.0  # top
  else:
    m[h:, :] = 0.0  # bottom
  return m


def pattern(size: int, rng: np.random.Generator, max_tries: int = 1000) -> np.ndarray:
  """A CE random-pattern mask with 20-30% of the pixels missing."""
  big = size * _PATTERN_TILE
  cells = max(2, big // _PATTERN_CELL)
  lo, hi = PATTERN_MISSING_BAND
  for _ in range(max_tries // 50):
    noise = rng.random((cells, cells)).astype(np.float32)
    field = np.asarray(Image.fromarray(noise, mode="F").resize((big, big), Image.Resampling.BICUBIC))
    missing = field < PATTERN_THRESHOLD
    for _ in range(50):
      y, x = rng.integers(0, big - size + 1, size=2)
      crop = missing[y:y + size, x:x + size]
      if lo <= crop.mean() <= hi:
        return (~crop).astype(np.float32)
  raise RuntimeError(f"no {size}x{size} pattern crop with {lo:.0%}-{hi:.0%} missing in "
                     f"{max_tries} tries")


def make_mask(kind: str, size: int, seed: int) -> np.ndarray:
  """One mask of type `kind` (see MASK_TYPES): float32 [size, size], 1 = known."""
  rng = np.random.default_rng(seed)
  if kind == "center":
    return center(size)
  if kind == "pattern":
    return pattern(size, rng)
  if kind == "random":
    return random_pixels(size, rng)
  if kind == "half":
    return half(size, rng)
  raise ValueError(f"unknown mask type {kind!r}; choose one of {MASK_TYPES}")


def mask_seed(seed: int, image_id: int) -> int:
  """The seed of the mask of image `image_id` (a non-negative int, see `data.images.pixel_hashes`)
  in a run seeded with `seed`: independent streams for every (seed, id)."""
  return int(np.random.SeedSequence([seed, int(image_id)]).generate_state(1)[0])


def make_masks(kind: str, size: int, seed: int, ids) -> np.ndarray:
  """Masks of a batch of images, float32 [N, size, size]; each depends on (seed, its id) only."""
  return np.stack([make_mask(kind, size, mask_seed(seed, i)) for i in ids])


def from_png(source: str | bytes, size: int | None = None, name: str | None = None) -> np.ndarray:
  """Reads a user's mask: float32 [H, W], 1 = known. source: the file's path, or its
  contents (bytes, e.g. an upload; `name` then names it in messages).

  Rule: dark is the hole. A file with transparent pixels (an alpha channel below 255
  anywhere) marks the hole by transparency, whatever the colours (image editors erase holes
  that way): a pixel is missing where its alpha is below 128. Otherwise the file is
  converted to 8-bit grayscale (`images.to_8bit`, so 16-bit masks keep their range) and a
  pixel is missing where that value is below 128 (black = hole, white = known). Splitting
  at mid-grey keeps a JPEG-saved mask's hole whole (compression leaves values near 0 at its
  edges) and an anti-aliased edge where it is mostly painted; such in-between pixels get a
  warning with their count. If `size` is given the mask must be `size` x `size`.
  """
  path = source if isinstance(source, str) else name or "the uploaded mask"
  alpha = images_lib.read_image(source, "RGBA", path)[..., 3]
  if size is not None and alpha.shape != (size, size):
    raise ValueError(f"mask {path} is {alpha.shape[1]}x{alpha.shape[0]}, expected {size}x{size}")
  if (alpha < 255).any():
    values, ends = alpha, ("fully transparent", "opaque")
    logging.info("mask %s: transparent pixels mark the hole (alpha < 128); colours are ignored",
                 path)
  else:
    values, ends = images_lib.read_image(source, "L", path), ("black", "white")
  missing = values < 128
  between = (values > 0) & (values < 255)
  if between.any():
    logging.warning("mask %s: %d pixel(s) are neither %s nor %s (anti-aliased edges, JPEG "
                    "noise); the %d below mid-grey (128) count as missing, the rest as known",
                    path, int(between.sum()), *ends, int((between & missing).sum()))
  return (~missing).astype(np.float32)


def make_mixed_masks(size: int, seed: int, ids) -> np.ndarray:
  """Masks of every type, [N, size, size]: image id i gets type MASK_TYPES[i % 4] and the
  mask `make_mask(type, size, mask_seed(seed, i))` (for training models on all types)."""
  return np.stack([make_mask(MASK_TYPES[int(i) % len(MASK_TYPES)], size, mask_seed(seed, i))
                   for i in ids])


# On the device: the four types as pure functions of a key, for training steps.


def _pattern_on_device(size: int, key: jax.Array) -> jax.Array:
  big = size * _PATTERN_TILE
  cells = max(2, big // _PATTERN_CELL)
  k_noise, k_pick = jax.random.split(key)
  noise = jax.random.uniform(k_noise, (cells, cells), jnp.float32)
  # jax.image's bicubic is PIL's (Keys, a = -0.5): the field `pattern` thresholds.
  missing = (jax.image.resize(noise, (big, big), "bicubic") < PATTERN_THRESHOLD).astype(jnp.int32)
  # Random crops, as `pattern` tries them, all scored at once: column sums of each crop's
  # rows from running sums down the columns, then a running sum along them (log-depth
  # scans: XLA's CPU cumsum is quadratic in the length).
  ys, xs = jax.random.randint(k_pick, (2, _PATTERN_CANDIDATES), 0, big - size + 1)
  down = jnp.pad(jax.lax.associative_scan(jnp.add, missing, axis=0), ((1, 0), (0, 0)))
  along = jnp.pad(jax.lax.associative_scan(jnp.add, down[ys + size] - down[ys], axis=1),
                  ((0, 0), (1, 0)))
  crop = jnp.arange(_PATTERN_CANDIDATES)
  frac = (along[crop, xs + size] - along[crop, xs]) / size**2
  lo, hi = PATTERN_MISSING_BAND
  # The first crop in the band; about 1 field in 800 has none and gives the nearest.
  c = jnp.argmin(jnp.maximum(jnp.maximum(lo - frac, frac - hi), 0.0))
  return 1.0 - jax.lax.dynamic_slice(missing, (ys[c], xs[c]), (size, size)).astype(jnp.float32)


def _half_on_device(size: int, key: jax.Array) -> jax.Array:
  h, rows, cols = size // 2, jnp.arange(size)[:, None], jnp.arange(size)[None, :]
  known = jnp.stack([jnp.broadcast_to(k, (size, size)) for k in
                     (cols >= h, cols < h, rows >= h, rows < h)])  # left, right, top, bottom
  return known[jax.random.randint(key, (), 0, 4)].astype(jnp.float32)


def draw(kind: str, size: int, key: jax.Array) -> jax.Array:
  """One mask of type `kind` drawn on the device from `key` (traceable, vmappable): float32
  [size, size], 1 = known. The same distributions as `make_mask`, other random streams."""
  if kind == "center":
    return jnp.asarray(center(size))
  if kind == "pattern":
    return _pattern_on_device(size, key)
  if kind == "random":
    return (jax.random.uniform(key, (size, size)) >= RANDOM_MISSING).astype(jnp.float32)
  if kind == "half":
    return _half_on_device(size, key)
  raise ValueError(f"unknown mask type {kind!r}; choose one of {MASK_TYPES}")


def draw_batch(kinds: Sequence[str], size: int, key: jax.Array) -> jax.Array:
  """Masks [N, size, size] on the device, mask j of type `kinds[j]` drawn from
  `fold_in(key, j)`."""
  keys = jax.vmap(lambda j: jax.random.fold_in(key, j))(jnp.arange(len(kinds)))
  out = jnp.zeros((len(kinds), size, size), jnp.float32)
  for kind in sorted(set(kinds)):
    idx = np.array([j for j, k in enumerate(kinds) if k == kind])
    # Vectorised in groups: a pattern field is 16x the mask, and more than ~32 of them at
    # once overflow a CPU's cache (64 at once: 4.5x slower than 4 groups of 16).
    out = out.at[idx].set(jax.lax.map(lambda k, kind=kind: draw(kind, size, k), keys[idx],
                                      batch_size=_DRAW_GROUP))
  return out


def training_key(mask_seed: int, step: int | jax.Array) -> jax.Array:
  """The key of training step `step`'s masks (traceable): a function of (mask_seed, step)."""
  return jax.random.fold_in(jax.random.PRNGKey(mask_seed), step)
