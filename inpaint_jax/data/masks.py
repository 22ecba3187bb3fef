"""Binary masks `[H, W]` float32, 1 = known pixel, 0 = missing; each a function of its seed.

The four mask types of Yeh et al. Sec. 4.1 and Table 1:
  center   the central block, half the side (32x32 of 64x64);
  pattern  the Context Encoder's random pattern: a low-resolution uniform noise field,
           upsampled bicubically and thresholded (< 0.25), cropped where 20-30% is missing;
  random   80% of pixels missing, independently per pixel, the same for all channels;
  half     the left, right, top or bottom half missing, chosen by the seed.
and `from_png`, a user's mask file.
"""

from __future__ import annotations

from absl import logging
import numpy as np
from PIL import Image

from inpaint_jax.data import images as images_lib

MASK_TYPES = ("center", "pattern", "random", "half")

# The Context Encoder's pattern masks (Pathak et al. 2016).
PATTERN_THRESHOLD = 0.25
PATTERN_MISSING_BAND = (0.20, 0.30)
# One noise cell per ~16 output pixels gives blobs the size of the CE's examples.
_PATTERN_CELL = 16
_PATTERN_TILE = 4  # the pattern is drawn at 4x the image side, then cropped
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


def from_png(path: str, size: int | None = None) -> np.ndarray:
  """Reads a user's mask: float32 [H, W], 1 = known.

  Rule: the file is converted to 8-bit grayscale (`images.to_8bit`, so 16-bit masks keep
  their range; an alpha channel is ignored); a pixel is missing where that value is 0
  (black = hole) and known anywhere else, grey included. A mask with grey pixels (e.g.
  anti-aliased edges) gets a warning saying how many there are and that they count as
  known. If `size` is given the mask must be `size` x `size`.
  """
  gray = images_lib.read_image(path, "L")
  if size is not None and gray.shape != (size, size):
    raise ValueError(f"mask {path} is {gray.shape[1]}x{gray.shape[0]}, expected {size}x{size}")
  grey = int(((gray > 0) & (gray < 255)).sum())
  if grey:
    logging.warning("mask %s: %d pixel(s) are neither black (0) nor white (255); they count as "
                    "known (only black marks the hole)", path, grey)
  return (gray != 0).astype(np.float32)


def make_mixed_masks(size: int, seed: int, ids) -> np.ndarray:
  """Masks of every type, [N, size, size]: image id i gets type MASK_TYPES[i % 4] and the
  mask `make_mask(type, size, mask_seed(seed, i))` (for training models on all types)."""
  return np.stack([make_mask(MASK_TYPES[int(i) % len(MASK_TYPES)], size, mask_seed(seed, i))
                   for i in ids])
