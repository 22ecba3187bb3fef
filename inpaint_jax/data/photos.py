"""A user's photo on its way to the model and back: framing (crop and resize to the
model's input, as its training images were), the mask shrunk with it, and the fill pasted
back at the photo's resolution. Used by the CLI and benchmarks/crop_framing.py."""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from inpaint_jax.data import images as images_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.data import sources


@dataclasses.dataclass
class Photo:
  path: str
  original: np.ndarray  # uint8 [H, W, 3]
  box: tuple[int, int, int, int]  # what the model sees: (left, top, right, bottom)
  model_input: np.ndarray  # float32 [S, S, 3] in [-1, 1]
  rule: sources.CropRule  # how model_input was made from original
  frames: int = 1  # an animated file's frame count (the first frame is the one read)


def framing(crop: str, model_config, h: int, w: int) -> sources.CropRule:
  """How an h x w photo becomes the model's input: 'square' its whole centred square,
  'stretch' the whole photo; 'auto' the model's training framing (`sources.crop_rule`; a
  TFDS bounding box means the whole photo), or nothing at all for an image that is
  already the model's size (a model input: the demo faces, a split run's originals)."""
  size = model_config.model.image_size
  if crop == "square":
    return sources.CropRule("center", 1.0, size)
  if crop == "stretch" or (h, w) == (size, size):
    return sources.CropRule("none", 1.0, size)
  rule = sources.crop_rule(model_config.dataset, size)
  return rule if rule.kind == "center" else sources.CropRule("none", 1.0, size)


def size_note(h: int, w: int, rule: sources.CropRule) -> str:
  """What happened to an h x w photo on its way to the model's input under `rule` ('' if
  nothing), with a warning when it had to be enlarged."""
  size = rule.size
  if (h, w) == (size, size):
    return ""
  if rule.kind == "center":
    left, _, right, _ = sources.center_box(w, h, rule.fraction)
    side = right - left
    share = "" if rule.fraction == 1.0 else f" ({rule.fraction:.0%} of the shorter side)"
    note = f" (centre-cropped {side}px square{share}, resized to {size}x{size})"
  else:
    side = min(h, w)
    note = f" (resized from {w}x{h} to {size}x{size}" + (
        ", aspect ratio not kept)" if h != w else ")")
  if side < size:
    seen = f"the photo is {w}x{h}," if rule.kind != "center" else f"the {side}px square is"
    note += (f"; warning: {seen} smaller than the model's {size}x{size}, so it is enlarged "
             "and the fill will be blurred")
  return note


def read_photo(source: str | bytes, crop: str, model_config, name: str | None = None) -> Photo:
  """Reads any image as RGB and makes the model's input, framed by `framing(crop, ...)`.
  source: a path, or a file's contents (bytes; `name` names it in messages and `Photo.path`)."""
  path = source if isinstance(source, str) else name or "the uploaded photo"
  original = images_lib.read_image(source, name=path)  # FileNotFoundError, ValueError name it
  frames = images_lib.frame_count(source)
  h, w = original.shape[:2]
  rule = framing(crop, model_config, h, w)
  box = sources.center_box(w, h, rule.fraction) if rule.kind == "center" else (0, 0, w, h)
  model_input = sources.preprocess(original, rule)
  return Photo(path, original, box, images_lib.to_float(model_input), rule, frames)


def photo_mask(photo: Photo, size: int, mask: str | bytes | None, mask_type: str | None,
               seed: int, mask_name: str | None = None) -> tuple[np.ndarray, np.ndarray]:
  """(model-size mask [S, S], photo-size mask [H, W]); 1 = known. mask: a mask file's path or
  contents (`masks.from_png`'s rule; `mask_name` names contents in messages), the photo's
  size; else `mask_type` is generated from (seed, the photo's pixel hash), as everywhere
  else. Raises ValueError for a mask of another size or with a hole the model cannot see."""
  h, w = photo.original.shape[:2]
  if mask is None:
    pixel_hash = images_lib.pixel_hashes(photo.model_input[None])[0]
    small = masks_lib.make_mask(mask_type, size, masks_lib.mask_seed(seed, pixel_hash))
    return small, grow_mask(photo, small)
  label = mask if isinstance(mask, str) else mask_name or "the uploaded mask"
  full = masks_lib.from_png(mask, name=label)
  if full.shape != (h, w):
    raise ValueError(f"mask {label} is {full.shape[1]}x{full.shape[0]} but image "
                     f"{photo.path} is {w}x{h}")
  left, top, right, bottom = photo.box
  outside = np.ones((h, w), bool)
  outside[top:bottom, left:right] = False
  if (full[outside] == 0).any():
    raise ValueError(f"mask {label} has missing pixels outside the centred square the model "
                     f"sees in {photo.path} ({left}, {top} to {right}, {bottom}); crop the "
                     "photo around the hole first, or choose crop 'square' (--crop square: "
                     "the whole centred square) or 'stretch' (--crop stretch: the whole "
                     "photo, squeezed to a square)")
  return shrink_mask(photo, full, size), full


def shrink_mask(photo: Photo, full: np.ndarray, size: int) -> np.ndarray:
  """A photo-size mask [H, W] (1 = known) as the model's [size, size] mask of `photo.box`."""
  # A model pixel is missing if any photo pixel under it is (area average below 1): a
  # hole thinner than a model pixel would otherwise vanish and go unfilled.
  seen = Image.fromarray(np.asarray(full, np.float32)).crop(photo.box)
  return (np.asarray(seen.resize((size, size), Image.Resampling.BOX)) >= 1.0 - 1e-6).astype(
      np.float32)


def grow_mask(photo: Photo, small: np.ndarray) -> np.ndarray:
  """The model's [S, S] mask (1 = known) as a photo-size [H, W] mask: `photo.box` scaled
  up from it, known outside the box."""
  h, w = photo.original.shape[:2]
  left, top, right, bottom = photo.box
  full = np.ones((h, w), np.float32)
  big = Image.fromarray((np.asarray(small) * 255).astype(np.uint8)).resize(
      (right - left, bottom - top), Image.Resampling.NEAREST)
  full[top:bottom, left:right] = np.asarray(big) > 127
  return full


def paste_back(photo: Photo, filled: np.ndarray, full_mask: np.ndarray) -> np.ndarray:
  """The photo at full resolution with missing pixels taken from the scaled-up result."""
  left, top, right, bottom = photo.box
  up = Image.fromarray(images_lib.to_uint8(filled)).resize((right - left, bottom - top),
                                                               Image.Resampling.BICUBIC)
  out = photo.original.copy()
  region = out[top:bottom, left:right]
  hole = full_mask[top:bottom, left:right] == 0
  region[hole] = np.asarray(up)[hole]
  return out
