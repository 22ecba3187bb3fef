"""`inpaint-jax`: the demo, and inpainting a user's own photos.

  inpaint-jax demo [--out demo_out] [--iterations 500]
  inpaint-jax inpaint --image photo.jpg --mask_type center --out result.png [--paste_back]
  inpaint-jax inpaint --image photo.jpg --mask mask.png --out result.png
  inpaint-jax inpaint --input_dir photos/ --mask_type half --output_dir results/

Photos of any size are centre-cropped to a square and resized to the model's size
(64x64); with --paste_back the filled square is scaled back and pasted into the photo at
its original resolution, only where pixels were missing. A mask file has the size of
the photo; black (0) marks missing pixels, anything else is known.
"""

from __future__ import annotations

import dataclasses
import os
import sys

from absl import app
from absl import flags
import numpy as np
from PIL import Image

from inpaint_jax import ASSETS
from inpaint_jax import images as image_io
from inpaint_jax import input_pipeline
from inpaint_jax import masks as masks_lib

SHIPPED_MODEL = os.path.join(ASSETS, "celeba_dcgan.msgpack")
DEMO_FACES = os.path.join(ASSETS, "faces")

_CHECKPOINT = flags.DEFINE_string("checkpoint", None,
                                  "Training workdir or model file (default: the shipped faces model).")
_IMAGE = flags.DEFINE_string("image", None, "inpaint: one photo (JPEG/PNG, any size).")
_INPUT_DIR = flags.DEFINE_string("input_dir", None, "inpaint: a folder of photos.")
_MASK = flags.DEFINE_string("mask", None, "inpaint: mask file, same size as the photo(s).")
_MASK_TYPE = flags.DEFINE_enum("mask_type", None, list(masks_lib.MASK_TYPES), "inpaint: generated mask.")
_OUT = flags.DEFINE_string("out", None, "inpaint: output PNG for --image; demo: output folder.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "inpaint: output folder for --input_dir.")
_PASTE_BACK = flags.DEFINE_bool("paste_back", False,
                                "inpaint: write the result at the photo's original resolution.")
_ITERATIONS = flags.DEFINE_integer("iterations", None, "Search iterations (demo default 500; "
                                   "inpaint default: the model's config, 1500).")
_RESTARTS = flags.DEFINE_integer("restarts", None, "Random restarts per image.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of generated masks and of the search.")

DEMO_ITERATIONS = 500
DEMO_RESTARTS = 2


class UserError(Exception):
  """A problem with the user's input: reported in one line, exit status 2."""


# ----------------------------------------------------------------------------- photos


@dataclasses.dataclass
class Photo:
  path: str
  original: np.ndarray  # uint8 [H, W, 3]
  box: tuple[int, int, int, int]  # the centred square (left, top, right, bottom)
  model_input: np.ndarray  # float32 [S, S, 3] in [-1, 1]


def read_photo(path: str, size: int) -> Photo:
  """Reads any image, converts to RGB, centre-crops a square and resizes it to `size`."""
  if not os.path.isfile(path):
    raise UserError(f"image file does not exist: {path}")
  try:
    with Image.open(path) as im:
      original = np.asarray(im.convert("RGB"))
  except Exception as e:  # pylint: disable=broad-except
    raise UserError(f"{path} is not a readable image ({type(e).__name__})") from e
  h, w = original.shape[:2]
  side = min(h, w)
  left, top = (w - side) // 2, (h - side) // 2
  box = (left, top, left + side, top + side)
  crop = Image.fromarray(original).crop(box).resize((size, size), Image.Resampling.BICUBIC)
  return Photo(path, original, box, input_pipeline.to_float(np.asarray(crop)))


def photo_mask(photo: Photo, size: int, mask_path: str | None, mask_type: str | None,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
  """(model-size mask [S, S], photo-size mask [H, W]); 1 = known."""
  h, w = photo.original.shape[:2]
  if mask_path:
    try:
      full = masks_lib.from_png(mask_path)
    except (FileNotFoundError, ValueError) as e:
      raise UserError(str(e)) from e
    if full.shape != (h, w):
      raise UserError(f"mask {mask_path} is {full.shape[1]}x{full.shape[0]} but image "
                      f"{photo.path} is {w}x{h}")
    left, top, right, bottom = photo.box
    outside = np.ones((h, w), bool)
    outside[top:bottom, left:right] = False
    if (full[outside] == 0).any():
      raise UserError(f"mask {mask_path} has missing pixels outside the centred square the model "
                      f"sees in {photo.path}; crop the photo around the hole first")
    square = Image.fromarray((full * 255).astype(np.uint8)).crop(photo.box)
    small = np.asarray(square.resize((size, size), Image.Resampling.NEAREST)) > 127
    return small.astype(np.float32), full
  small = masks_lib.make_mask(mask_type, size, seed)
  full = np.ones((h, w), np.float32)
  left, top, right, bottom = photo.box
  big = Image.fromarray((small * 255).astype(np.uint8)).resize((right - left, bottom - top),
                                                               Image.Resampling.NEAREST)
  full[top:bottom, left:right] = np.asarray(big) > 127
  return small, full


def paste_back(photo: Photo, filled: np.ndarray, full_mask: np.ndarray) -> np.ndarray:
  """The photo at full resolution with missing pixels taken from the scaled-up result."""
  left, top, right, bottom = photo.box
  up = Image.fromarray(input_pipeline.to_uint8(filled)).resize((right - left, bottom - top),
                                                               Image.Resampling.BICUBIC)
  out = photo.original.copy()
  region = out[top:bottom, left:right]
  hole = full_mask[top:bottom, left:right] == 0
  region[hole] = np.asarray(up)[hole]
  return out


# ----------------------------------------------------------------------------- commands


def _load(checkpoint: str | None):
  from inpaint_jax import checkpoints  # pylint: disable=g-import-not-at-top
  path = checkpoint or SHIPPED_MODEL
  try:
    config, g_vars, d_vars = checkpoints.load_model(path)
  except (FileNotFoundError, ValueError) as e:
    raise UserError(str(e)) from e
  if _ITERATIONS.value is not None:
    if _ITERATIONS.value < 1:
      raise UserError(f"--iterations must be at least 1, got {_ITERATIONS.value}")
    config.search.iterations = _ITERATIONS.value
  if _RESTARTS.value is not None:
    if _RESTARTS.value < 1:
      raise UserError(f"--restarts must be at least 1, got {_RESTARTS.value}")
    config.search.restarts = _RESTARTS.value
  return config, {"generator": g_vars, "discriminator": d_vars}


def _check_writable(folder: str) -> None:
  folder = folder or "."
  probe = folder
  while probe and not os.path.exists(probe):
    probe = os.path.dirname(probe)
  probe = probe or "."
  if not os.path.isdir(probe) or not os.access(probe, os.W_OK):
    raise UserError(f"output folder is not writable: {folder}")


def _check_finite(result, what: str) -> None:
  if not (np.isfinite(result.blended).all() and np.isfinite(result.losses["total"]).all()):
    raise UserError(f"the search produced NaN or infinite values for {what}; the checkpoint "
                    "may be corrupt or the learning rate too high")


def demo(out_dir: str) -> None:
  """Inpaints the bundled test faces with the shipped model under all four mask types."""
  from inpaint_jax import evaluation  # pylint: disable=g-import-not-at-top
  _check_writable(out_dir)
  if _ITERATIONS.value is None:
    flags.FLAGS.iterations = DEMO_ITERATIONS
  if _RESTARTS.value is None:
    flags.FLAGS.restarts = DEMO_RESTARTS
  config, params = _load(_CHECKPOINT.value)
  size = config.model.image_size
  names = sorted(n for n in os.listdir(DEMO_FACES) if n.endswith(".png"))
  faces = np.stack([read_photo(os.path.join(DEMO_FACES, n), size).model_input for n in names])
  print(f"demo: {len(faces)} CelebA test faces (not in the training split), model "
        f"{os.path.basename(_CHECKPOINT.value or SHIPPED_MODEL)}")
  results = evaluation.run_examples(faces, params, config, out_dir, seed=_SEED.value)
  for r in results:
    _check_finite(r.result, f"mask type {r.mask_type}")
  print(f"picture rows: original | masked | G(z) | blended; open {os.path.join(out_dir, 'grid.png')}")


def inpaint_photos() -> None:
  """Inpaints --image into --out, or every photo of --input_dir into --output_dir."""
  from inpaint_jax import inpainting  # pylint: disable=g-import-not-at-top
  if bool(_IMAGE.value) == bool(_INPUT_DIR.value):
    raise UserError("give exactly one of --image or --input_dir")
  if bool(_MASK.value) == bool(_MASK_TYPE.value):
    raise UserError("give exactly one of --mask or --mask_type")
  if _IMAGE.value:
    if not _OUT.value:
      raise UserError("--image needs --out (a .png path)")
    jobs = [(_IMAGE.value, _OUT.value)]
    out_folder = os.path.dirname(os.path.abspath(_OUT.value))
  else:
    if not _OUTPUT_DIR.value:
      raise UserError("--input_dir needs --output_dir")
    if not os.path.isdir(_INPUT_DIR.value):
      raise UserError(f"input folder does not exist: {_INPUT_DIR.value}")
    names = sorted(n for n in os.listdir(_INPUT_DIR.value)
                   if n.lower().endswith(input_pipeline.IMAGE_EXTENSIONS))
    if not names:
      raise UserError(f"input folder {_INPUT_DIR.value} holds no JPEG/PNG files")
    jobs = [(os.path.join(_INPUT_DIR.value, n),
             os.path.join(_OUTPUT_DIR.value, os.path.splitext(n)[0] + ".png")) for n in names]
    out_folder = _OUTPUT_DIR.value
  _check_writable(out_folder)
  config, params = _load(_CHECKPOINT.value)
  size = config.model.image_size

  photos, small_masks, full_masks = [], [], []
  for i, (path, _) in enumerate(jobs):
    photo = read_photo(path, size)
    small, full = photo_mask(photo, size, _MASK.value, _MASK_TYPE.value,
                             masks_lib.mask_seed(_SEED.value, i))
    h, w = photo.original.shape[:2]
    note = "" if (h, w) == (size, size) else f" (centre-cropped {min(h, w)}px square, resized to {size}x{size})"
    if small.min() == 1.0:
      print(f"{path}: the mask has no missing pixel; the input is copied{note}")
    elif small.max() == 0.0:
      print(f"{path}: every pixel is missing; the result is generated from the prior alone{note}")
    else:
      print(f"{path}: {100 * (1 - small.mean()):.1f}% missing{note}")
    photos.append(photo)
    small_masks.append(small)
    full_masks.append(full)

  print(f"searching z: {config.search.iterations} iterations, {config.search.restarts} restart(s)")
  result = inpainting.inpaint(np.stack([p.model_input for p in photos]), np.stack(small_masks),
                              params, config, _SEED.value)
  _check_finite(result, ", ".join(p for p, _ in jobs[:3]))
  outputs = []
  for k, (photo, (_, out_path)) in enumerate(zip(photos, jobs)):
    if _PASTE_BACK.value:
      outputs.append((out_path, paste_back(photo, result.blended[k], full_masks[k])))
    else:
      outputs.append((out_path, input_pipeline.to_uint8(result.blended[k])))
  for out_path, image in outputs:  # only once everything succeeded
    image_io.save_png(out_path, image)
    print(f"wrote {out_path}")


def main(argv):
  command = argv[1] if len(argv) > 1 else None
  if len(argv) > 2:
    raise UserError(f"unexpected arguments: {' '.join(argv[2:])}")
  if command == "demo":
    demo(_OUT.value or "demo_out")
  elif command == "inpaint":
    inpaint_photos()
  else:
    raise UserError("usage: inpaint-jax {demo|inpaint} [--flags]; see inpaint-jax --helpfull")


def _main_reporting_errors(argv):
  try:
    main(argv)
  except UserError as e:
    print(f"inpaint-jax: error: {e}", file=sys.stderr)
    sys.exit(2)


def run():
  """Console-script entry point."""
  app.run(_main_reporting_errors)


if __name__ == "__main__":
  run()
