"""Binary masks `[H, W]` float32, 1 = known pixel, 0 = missing; each a function of its seed.

The four mask types of Yeh et al. Sec. 4.1 and Table 1:
  center   the central block, half the side (32x32 of 64x64);
  pattern  the Context Encoder's random pattern: a low-resolution uniform noise field,
           upsampled bicubically and thresholded (< 0.25), cropped where 20-30% is missing;
  random   80% of pixels missing, independently per pixel, the same for all channels;
  half     the left, right, top or bottom half missing, chosen by the seed;
today's irregular masks (LaMa, Suvorov et al. 2022, its `random_{thin,medium,thick}_256`
evaluation generators, drawn in their 256-pixel geometry and rasterised at the image's size):
  thin     4-50 thin brush strokes;
  medium   4-5 strokes of up to 54 px (at 256), or with probability 0.3/1.3 1-5 boxes;
  thick    1-5 strokes of up to 104 px, or with probability 0.3/1.3 1-3 large boxes;
  box      the thick generator's boxes alone (1-3 boxes, 30-150 px at 256, margin 10);
each redrawn until at most half the image is missing (LaMa's `max_tamper_area`);
and `from_png`, a user's mask file. Evaluation draws them on the host from a seed per
image (`make_masks`); training draws them inside the jitted step from the step's key
(`draw_batch`: the same four types, nothing left for the host to do per step).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple, Sequence

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from inpaint_jax.data import images as images_lib

PAPER_TYPES = ("center", "pattern", "random", "half")
IRREGULAR_TYPES = ("thin", "medium", "thick", "box")
MASK_TYPES = PAPER_TYPES + IRREGULAR_TYPES
# What a model can be trained on beside one type: a mixture, mask j of a batch of type
# mix[j % len(mix)] ("lama": LaMa's four kinds, as LaMa trains on a mixture; "all": both).
TRAINING_MIXES = {"paper": PAPER_TYPES, "lama": IRREGULAR_TYPES, "all": MASK_TYPES}


def training_kinds(mask_type: str, n: int) -> tuple[str, ...]:
  """The types of a batch of n training masks for `mask_type` (a type or a mix)."""
  mix = TRAINING_MIXES.get(mask_type, (mask_type,))
  return tuple(mix[j % len(mix)] for j in range(n))


def check_training_type(mask_type: str) -> None:
  """ValueError naming config.mask_type where it is neither a mask type nor a training mix."""
  known = MASK_TYPES + tuple(TRAINING_MIXES)
  if mask_type not in known:
    raise ValueError(f"config.mask_type must be one of {', '.join(known)}, got {mask_type!r}")


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


# LaMa's irregular masks. Their generators draw in a 256-pixel frame (integer positions,
# lengths and brush widths from `np.random.randint`, OpenCV's round-capped thick lines);
# we draw the same numbers in the same frame and rasterise at `size`: a pixel is missing
# where its centre, mapped into the 256 frame, lies within half a brush width of a
# segment, or inside a box.
LAMA_FRAME = 256
LAMA_MAX_HOLE = 0.5  # `max_tamper_area` of LaMa's evaluation masks
LAMA_SEGMENTS = 5  # each stroke has 1 + randint(5) segments


class Irregular(NamedTuple):
  """One of LaMa's mixed generators (`configs/data_gen/random_*_256.yaml`), in its frame."""
  min_times: int  # strokes
  max_times: int
  max_width: int  # brush width 5 + randint(max_width)
  max_len: int  # segment length 10 + randint(max_len)
  max_angle: int  # segment angle 0.01 + randint(max_angle) radians
  box_proba: float  # weight of the box generator against the strokes' 1 (0: strokes only)
  box_min_times: int = 1
  box_max_times: int = 0
  box_margin: int = 0
  box_min_size: int = 0
  box_max_size: int = 0


LAMA = {
    "thin": Irregular(4, 50, 10, 40, 4, 0.0),
    "medium": Irregular(4, 5, 50, 100, 4, 0.3, 1, 5, 0, 10, 50),
    "thick": Irregular(1, 5, 100, 200, 4, 0.3, 1, 3, 10, 30, 150),
    # Boxes alone: the thick generator's box part, as a kind of its own.
    "box": Irregular(0, 0, 0, 0, 4, 1.0, 1, 3, 10, 30, 150),  # no strokes: always boxes
}


def _lama_strokes(gen: Irregular, rng: np.random.Generator):
  """LaMa's `make_random_irregular_mask` draws, in its order, in the 256 frame: segments
  [S, 5] (x0, y0, x1, y1, brush width) with S = max_times * 5, and which of them exist."""
  segments = np.zeros((gen.max_times * LAMA_SEGMENTS, 5), np.float32)
  used = np.zeros(len(segments), bool)
  for i in range(int(rng.integers(gen.min_times, gen.max_times + 1))):
    x, y = int(rng.integers(LAMA_FRAME)), int(rng.integers(LAMA_FRAME))
    for j in range(1 + int(rng.integers(LAMA_SEGMENTS))):
      angle = 0.01 + int(rng.integers(gen.max_angle))
      if i % 2 == 0:
        angle = 2 * 3.1415926 - angle
      length = 10 + int(rng.integers(gen.max_len))
      width = 5 + int(rng.integers(gen.max_width))
      # int() truncates toward zero like LaMa's astype(int32); LaMa clips to [0, 256].
      x1 = min(max(int(x + length * math.sin(angle)), 0), LAMA_FRAME)
      y1 = min(max(int(y + length * math.cos(angle)), 0), LAMA_FRAME)
      segments[i * LAMA_SEGMENTS + j] = (x, y, x1, y1, width)
      used[i * LAMA_SEGMENTS + j] = True
      x, y = x1, y1
  return segments, used


def _lama_boxes(gen: Irregular, rng: np.random.Generator):
  """LaMa's `make_random_rectangle_mask` draws: boxes [B, 4] (x, y, w, h) in the 256 frame."""
  boxes = np.zeros((gen.box_max_times, 4), np.float32)
  used = np.zeros(len(boxes), bool)
  top = min(gen.box_max_size, LAMA_FRAME - 2 * gen.box_margin)
  for i in range(int(rng.integers(gen.box_min_times, gen.box_max_times + 1))):
    w, h = int(rng.integers(gen.box_min_size, top)), int(rng.integers(gen.box_min_size, top))
    x = int(rng.integers(gen.box_margin, LAMA_FRAME - gen.box_margin - w + 1))
    y = int(rng.integers(gen.box_margin, LAMA_FRAME - gen.box_margin - h + 1))
    boxes[i], used[i] = (x, y, w, h), True
  return boxes, used


@functools.partial(jax.jit, static_argnums=0)
def _rasterise(size: int, segments, seg_used, boxes, box_used) -> jax.Array:
  """Known mask [size, size] (1 = known) of strokes and boxes given in the 256 frame."""
  # Pixel centres in the frame: pixel k of the frame has its centre at k.
  c = (jnp.arange(size, dtype=jnp.float32) + 0.5) * (LAMA_FRAME / size) - 0.5
  px, py = c[None, :, None], c[:, None, None]  # [1, W, 1], [H, 1, 1]
  x0, y0, x1, y1, width = (segments[:, k] for k in range(5))
  dx, dy = x1 - x0, y1 - y0
  t = jnp.clip(((px - x0) * dx + (py - y0) * dy) / jnp.maximum(dx * dx + dy * dy, 1e-12), 0, 1)
  dist2 = (px - x0 - t * dx) ** 2 + (py - y0 - t * dy) ** 2
  stroke = ((dist2 <= (width / 2) ** 2) & seg_used).any(-1)
  bx, by, bw, bh = (boxes[:, k] for k in range(4))
  inside = ((px + 0.5 > bx) & (px + 0.5 <= bx + bw) & (py + 0.5 > by) & (py + 0.5 <= by + bh))
  box = (inside & box_used).any(-1)
  return 1.0 - (stroke | box).astype(jnp.float32)


def _lama_parts(gen: Irregular, rng: np.random.Generator):
  """One draw of a LaMa mixed generator: (segments, used, boxes, used); LaMa first picks
  the strokes or the boxes with probabilities 1 : box_proba."""
  use_boxes = gen.max_times == 0 or (
      gen.box_proba > 0 and rng.random() < gen.box_proba / (1.0 + gen.box_proba))
  # The part not drawn is padded to the part's full length (unused), so one compiled
  # rasteriser serves every draw of a kind.
  strokes = _lama_strokes(gen, rng) if not use_boxes else (
      np.zeros((gen.max_times * LAMA_SEGMENTS, 5), np.float32),
      np.zeros(gen.max_times * LAMA_SEGMENTS, bool))
  boxes = _lama_boxes(gen, rng) if use_boxes else (
      np.zeros((gen.box_max_times, 4), np.float32), np.zeros(gen.box_max_times, bool))
  return (*strokes, *boxes)


def irregular(kind: str, size: int, rng: np.random.Generator, max_tries: int = 1000) -> np.ndarray:
  """A LaMa mask of `kind` (thin, medium, thick, box), float32 [size, size], 1 = known;
  redrawn until at most LAMA_MAX_HOLE of it is missing, as LaMa's evaluation masks are."""
  gen = LAMA[kind]
  for _ in range(max_tries):
    m = np.asarray(_rasterise(size, *_lama_parts(gen, rng)))
    if 0 < 1.0 - m.mean() <= LAMA_MAX_HOLE:
      return m
  raise RuntimeError(f"no {kind} mask with at most {LAMA_MAX_HOLE:.0%} missing in "
                     f"{max_tries} draws")


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
  if kind in LAMA:
    return irregular(kind, size, rng)
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
  """Masks of the paper's types, [N, size, size]: image id i gets type PAPER_TYPES[i % 4] and
  the mask `make_mask(type, size, mask_seed(seed, i))` (for training models on all four)."""
  return np.stack([make_mask(PAPER_TYPES[int(i) % len(PAPER_TYPES)], size, mask_seed(seed, i))
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


_DEVICE_TRIES = 8  # LaMa draws on the device at once; the first with at most half missing wins


def _lama_parts_on_device(gen: Irregular, key: jax.Array):
  """`_lama_parts` from a key: the same distributions, padded to the most strokes/boxes."""
  n_strokes, n_seg, n_boxes = gen.max_times, LAMA_SEGMENTS, gen.box_max_times
  # One draw of uniforms for every number (one random-bits program: a dozen `randint`s each
  # compile their own and made the training step's compilation several seconds longer).
  sizes = (1, 1, 2 * n_strokes, n_strokes, 3 * n_strokes * n_seg, 1, 4 * n_boxes)
  u = jnp.split(jax.random.uniform(key, (sum(sizes),)), np.cumsum(sizes)[:-1])
  pick = lambda v, lo, hi: lo + jnp.minimum(jnp.floor(v * (hi - lo)), hi - lo - 1)  # randint
  u_kind, u_times, u_start, u_segs, u_seg, u_boxes, u_box = u
  times = pick(u_times[0], gen.min_times, gen.max_times + 1)
  start = pick(u_start.reshape(n_strokes, 2), 0, LAMA_FRAME)
  segs = pick(u_segs, 1, 1 + LAMA_SEGMENTS)
  ua, ul, uw = u_seg.reshape(3, n_strokes, n_seg)
  angle = 0.01 + pick(ua, 0, max(gen.max_angle, 1))
  angle = jnp.where((jnp.arange(n_strokes) % 2 == 0)[:, None], 2 * 3.1415926 - angle, angle)
  length = pick(ul, 10, 10 + max(gen.max_len, 1))
  width = pick(uw, 5, 5 + max(gen.max_width, 1))
  xy, parts = start, []
  for j in range(n_seg):  # one segment of every stroke: its end starts the next
    a = angle[:, j]
    end = jnp.clip(jnp.trunc(xy + length[:, j, None] * jnp.stack([jnp.sin(a), jnp.cos(a)], -1)),
                   0, LAMA_FRAME)
    parts.append(jnp.concatenate([xy, end, width[:, j, None]], -1))
    xy = end
  segments = jnp.stack(parts, 1).reshape(-1, 5)  # [N * 5, 5], stroke-major as on the host
  seg_used = ((jnp.arange(n_strokes) < times)[:, None] &
              (jnp.arange(n_seg)[None, :] < segs[:, None])).reshape(-1)
  top = max(min(gen.box_max_size, LAMA_FRAME - 2 * gen.box_margin), gen.box_min_size + 1)
  uw2, uh, ux, uy = u_box.reshape(4, n_boxes)
  bw, bh = pick(uw2, gen.box_min_size, top), pick(uh, gen.box_min_size, top)
  bx = pick(ux, gen.box_margin, LAMA_FRAME - gen.box_margin - bw + 1)
  by = pick(uy, gen.box_margin, LAMA_FRAME - gen.box_margin - bh + 1)
  boxes = jnp.stack([bx, by, bw, bh], -1)
  box_used = jnp.arange(n_boxes) < pick(u_boxes[0], gen.box_min_times, gen.box_max_times + 1)
  if gen.max_times == 0:
    use_boxes = jnp.bool_(True)
  else:
    use_boxes = u_kind[0] < gen.box_proba / (1.0 + gen.box_proba)
  return segments, seg_used & ~use_boxes, boxes, box_used & use_boxes


def _irregular_on_device(kind: str, size: int, key: jax.Array) -> jax.Array:
  gen = LAMA[kind]
  tries = jax.vmap(lambda k: _rasterise(size, *_lama_parts_on_device(gen, k)))(
      jax.random.split(key, _DEVICE_TRIES))
  hole = 1.0 - tries.mean(axis=(1, 2))
  # The first draw with 0 < hole <= max; if none, the one nearest the band.
  return tries[jnp.argmin(jnp.where((hole > 0) & (hole <= LAMA_MAX_HOLE), 0.0, 1.0 + hole))]


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
  if kind in LAMA:
    return _irregular_on_device(kind, size, key)
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
