"""`inpaint-jax`: the demo, inpainting a user's own photos, and a page to paint a hole.

  inpaint-jax demo [--out demo_out] [--preset paper]
  inpaint-jax inpaint --image photo.jpg --mask_type center --out result.png [--paste_back]
  inpaint-jax inpaint --image photo.jpg --mask mask.png --out result.png
  inpaint-jax inpaint --input_dir photos/ --mask_type half --output_dir results/
  inpaint-jax inpaint --image photo.jpg --mask_type half --out fills.png --restarts 8 --fills 4
  inpaint-jax serve [--port 8765] [--host 127.0.0.1] [--checkpoint model.msgpack]

With a shipped model the search starts from its latent encoder (the 'quality' preset, the
validation sweep's best within 0.25 s per image: configs/search.py); --preset
paper runs Yeh et al.'s method exactly, --preset fast skips the mixed blend (a little
faster, lower PSNR where known pixels are dense), --preset sharp tunes the generator per
image (sharper fills, lower PSNR).

Photos of any size become the model's 64x64 input the way its training images did
(--crop auto): the faces model takes the centred square of 108/178 of the shorter side
(photos framed like CelebA's aligned faces), the cars model the whole photo resized
without keeping its aspect ratio (a photo framed around the car); an image already
64x64 is taken as it is. --crop square (the whole centred square: a tight face crop) or
--crop stretch choose. With --paste_back the fill is scaled back and pasted into the
photo at its original resolution, only where pixels were missing. A mask file has the size of
the photo (PNG or JPEG); dark pixels (below mid-grey) are missing, light ones known; in a
file with transparency, the transparent pixels are the missing ones.
"""

from __future__ import annotations

import os
import sys

from absl import flags
import numpy as np
from tqdm import tqdm

from inpaint_jax import ASSETS
from inpaint_jax import commands
from inpaint_jax import model_files
from inpaint_jax.configs import presets
from inpaint_jax.configs import search as search_config
from inpaint_jax.core import inpaint as inpaint_lib
from inpaint_jax.data import images as images_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.data import photos as photos_lib
from inpaint_jax.data import sources
from inpaint_jax.evaluation import examples
from inpaint_jax.evaluation import runner

SHIPPED_MODEL = presets.bundled_model_path("celeba")
DEMO_FACES = os.path.join(ASSETS, "faces")

_CHECKPOINT = flags.DEFINE_string("checkpoint", None,
                                  "Training workdir or model file (default: the shipped faces model).")
_IMAGE = flags.DEFINE_string("image", None, "inpaint: one photo (JPEG/PNG, any size).")
_INPUT_DIR = flags.DEFINE_string("input_dir", None, "inpaint: a folder of photos.")
_MASK = flags.DEFINE_string("mask", None, "inpaint: mask file, same size as the photo(s).")
_MASK_TYPE = flags.DEFINE_enum("mask_type", None, list(masks_lib.MASK_TYPES), "inpaint: generated mask.")
_OUT = flags.DEFINE_string("out", None, "inpaint: output file for --image (.png or .jpg); demo: output folder.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "inpaint: output folder for --input_dir.")
_CROP = flags.DEFINE_enum(
    "crop", "auto", ["auto", "square", "stretch"],
    "inpaint: how a photo becomes the model's square input: 'square' takes its whole "
    "centred square, 'stretch' resizes the whole photo (aspect ratio not kept); 'auto' "
    "frames it as the model's training images were (the faces model: the centred 108/178 "
    "of the shorter side, as CelebA's aligned faces; the cars model: the whole photo); an "
    "image already the model's size is taken as it is.")
_PASTE_BACK = flags.DEFINE_bool("paste_back", False,
                                "inpaint: write the result at the photo's original resolution.")
_PRESET = flags.DEFINE_enum("preset", None, sorted(search_config.PRESETS), "Search settings: "
                            "paper (Yeh et al. exactly: random start, 1500 iterations), fast "
                            "(encoder start, 20 iterations, mirror averaged), quality (the "
                            "default: fast with the mixed blend) or sharp (encoder start, "
                            "per-image generator tuning); the flags below override single "
                            "settings.")
_ENCODER = flags.DEFINE_string("encoder", None, "Latent encoder file for --start=encoder "
                               "(default: the shipped model's own).")


def _search_flag(name: str, help_text: str):
  """The flag of search field `name`, of that field's type (None: left out)."""
  default = search_config.defaults()[name]
  if name in inpaint_lib.CHOICES:
    return flags.DEFINE_enum(name, None, list(inpaint_lib.CHOICES[name]), help_text)
  define = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer,
            float: flags.DEFINE_float}[type(default)]
  return define(name, None, help_text)


_SEARCH = {name: _search_flag(name, text) for name, text in search_config.USER_FLAGS.items()}
_SEED = flags.DEFINE_integer("seed", 0, "Seed of generated masks and of the search.")
_HOST = flags.DEFINE_string("host", "127.0.0.1", "serve: the address to listen on (the default "
                            "is this machine only; 0.0.0.0 opens the page to the network).")
_PORT = flags.DEFINE_integer("port", 8765, "serve: the port to listen on.", lower_bound=1,
                             upper_bound=65535)

DEMO_ITERATIONS = 500
DEMO_RESTARTS = 2


# ----------------------------------------------------------------------------- commands


def _load(checkpoint: str | None, **defaults):
  """(config, params) of the model and the search flags (`configs.search.settings`).
  Without --preset the search is the default preset (`search_config.DEFAULT_PRESET`) where
  the model has a latent encoder
  (shipped, or --encoder), else the paper's settings with `defaults` for the flags left
  out. A problem with a flag's value is reported under the flag's name."""
  path = checkpoint or SHIPPED_MODEL
  given = {name: holder.value for name, holder in _SEARCH.items()}
  preset, encoder, start = _PRESET.value, _ENCODER.value, given["start"]
  if encoder and (start == "random" or (start is None and preset == "paper")):
    raise commands.UserError("--encoder gives a search its starting point, and this one starts "
                             "at random: drop --encoder, or add --start encoder (or --preset fast)")
  if preset is None:
    if encoder or presets.bundled_encoder_for(path):
      preset = search_config.DEFAULT_PRESET
    else:
      given.update({k: v for k, v in defaults.items() if given[k] is None})
  try:
    return model_files.load_params(path, search_config.settings(preset, given), encoder)
  except (FileNotFoundError, ValueError) as e:
    message = str(e)
    for name in _SEARCH:  # the search's names for its fields are the flags' here
      message = message.replace(f"search.{name} ", f"--{name} ")
    raise commands.UserError(message) from e


def _check_writable(folder: str) -> None:
  folder = folder or "."
  probe = folder
  while probe and not os.path.exists(probe):
    probe = os.path.dirname(probe)
  probe = probe or "."
  if not os.path.isdir(probe) or not os.access(probe, os.W_OK):
    raise commands.UserError(f"output folder is not writable: {folder}")


def _check_outputs(jobs: list[tuple[str, str]]) -> None:
  """Refuses, before any work, outputs that would overwrite an input, collide with each
  other, name a folder, or have an extension other than PNG or JPEG."""
  inputs = {os.path.realpath(path): path for path, _ in jobs}
  seen = {}
  for path, out in jobs:
    real = os.path.realpath(out)
    if real in inputs:
      raise commands.UserError(f"output {out} would overwrite the input {inputs[real]}")
    if real in seen:
      raise commands.UserError(f"{seen[real]} and {path} would both be written to {out}; rename "
                             "one of them")
    seen[real] = path
    if os.path.isdir(out):
      raise commands.UserError(f"output {out} is a folder; give a file name ending in .png or .jpg")
    if not out.lower().endswith(images_lib.WRITABLE_EXTENSIONS):
      raise commands.UserError(f"output {out} must end in one of "
                             f"{', '.join(images_lib.WRITABLE_EXTENSIONS)} (the format follows it)")


def _check_finite(finite: bool, what: str) -> None:
  if not finite:
    raise commands.UserError(f"the search produced NaN or infinite values for {what}; the checkpoint "
                    "may be corrupt or the learning rate too high")


def _search_bar(config, num_images: int, runs: int = 1) -> tqdm:
  """A progress bar over the search iterations of `runs` calls of `inpaint` on `num_images`."""
  return tqdm(total=runs * inpaint_lib.progress_total(config.search, num_images), desc="search",
              unit="it", leave=False)


def demo(out_dir: str) -> None:
  """Inpaints the bundled test faces with the shipped model under all four mask types."""
  commands.check_paths({"--out": out_dir}, {"--checkpoint": _CHECKPOINT.value,
                                            "--encoder": _ENCODER.value})
  _check_writable(out_dir)
  config, params = _load(_CHECKPOINT.value, iterations=DEMO_ITERATIONS, restarts=DEMO_RESTARTS)
  names = sorted(n for n in os.listdir(DEMO_FACES) if n.endswith(".png"))
  # The bundled faces are tight crops already (the model's own input size for our models).
  faces = np.stack([images_lib.to_uint8(photos_lib.read_photo(os.path.join(DEMO_FACES, n),
                                                              "square", config).model_input) for n in names])
  print(f"demo: {len(faces)} CelebA test faces (not in the training split), model "
        f"{os.path.basename(_CHECKPOINT.value or SHIPPED_MODEL)}")
  with _search_bar(config, len(faces), len(masks_lib.PAPER_TYPES)) as bar:
    summaries = examples.run_examples(sources.ArraySource(faces, names),
                                      runner.ours(params, config, _SEED.value, bar.update),
                                      out_dir, seed=_SEED.value, log=bar.write)
  for s in summaries:
    _check_finite(np.isfinite([s["mean_total_loss"], s["mean_psnr_whole"]]).all(),
                  f"mask type {s['mask_type']}")
  print(f"picture rows: original | masked | G(z) | blended; open {os.path.join(out_dir, 'grid.png')}")


def inpaint_photos() -> None:
  """Inpaints --image into --out, or every photo of --input_dir into --output_dir."""
  if bool(_IMAGE.value) == bool(_INPUT_DIR.value):
    raise commands.UserError("give exactly one of --image or --input_dir")
  if bool(_MASK.value) == bool(_MASK_TYPE.value):
    raise commands.UserError("give exactly one of --mask or --mask_type")
  if _IMAGE.value:
    if not _OUT.value:
      raise commands.UserError("--image needs --out (a .png or .jpg path)")
    jobs = [(_IMAGE.value, _OUT.value)]
    out_folder = os.path.dirname(os.path.abspath(_OUT.value))
  else:
    if not _OUTPUT_DIR.value:
      raise commands.UserError("--input_dir needs --output_dir")
    if not os.path.isdir(_INPUT_DIR.value):
      raise commands.UserError(f"input folder does not exist: {_INPUT_DIR.value}")
    names = sorted(n for n in os.listdir(_INPUT_DIR.value)
                   if n.lower().endswith(sources.IMAGE_EXTENSIONS))
    if not names:
      raise commands.UserError(f"input folder {_INPUT_DIR.value} holds no JPEG/PNG files")
    jobs = [(os.path.join(_INPUT_DIR.value, n),
             os.path.join(_OUTPUT_DIR.value, os.path.splitext(n)[0] + ".png")) for n in names]
    out_folder = _OUTPUT_DIR.value
  commands.check_paths({"--out": _OUT.value, "--output_dir": _OUTPUT_DIR.value},
                       {"--image": _IMAGE.value, "--input_dir": _INPUT_DIR.value,
                        "--mask": _MASK.value, "--checkpoint": _CHECKPOINT.value,
                        "--encoder": _ENCODER.value})
  _check_outputs(jobs)
  _check_writable(out_folder)
  config, params = _load(_CHECKPOINT.value)
  size = config.model.image_size

  photos, small_masks, full_masks = [], [], []
  for path, _ in jobs:
    try:
      photo = photos_lib.read_photo(path, _CROP.value, config)
    except (FileNotFoundError, ValueError) as e:
      raise commands.UserError(str(e)) from e
    small, full = photos_lib.photo_mask(photo, size, _MASK.value, _MASK_TYPE.value, _SEED.value)
    h, w = photo.original.shape[:2]
    note = photos_lib.size_note(h, w, photo.rule)
    if photo.frames > 1:
      note += f"; the file is animated ({photo.frames} frames): only the first is filled"
    if small.min() == 1.0:
      print(f"{path}: the mask has no missing pixel; the input is copied{note}")
    elif small.max() == 0.0:
      print(f"{path}: every pixel is missing; the result is generated from the prior alone{note}")
    else:
      print(f"{path}: {100 * (1 - small.mean()):.1f}% missing{note}")
    photos.append(photo)
    small_masks.append(small)
    full_masks.append(full)

  inputs = np.stack([p.model_input for p in photos])
  if all(m.min() == 1.0 for m in small_masks):  # nothing to fill: no model call at all
    fills_of = inputs[:, None]
    fill_count = np.ones(len(photos), int)
  else:  # `inpaint` returns any hole-free photo unchanged
    cfg = config.search
    print(f"searching z for {len(photos)} photo(s): {cfg.iterations} iterations from "
          f"{cfg.start} start, {cfg.restarts} restart(s)" +
          (f", then {cfg.tune_steps} steps of generator tuning" if cfg.tune_steps else ""))
    with _search_bar(config, len(photos)) as bar:
      result = inpaint_lib.inpaint(inputs, np.stack(small_masks), params, config, _SEED.value,
                                   progress=bar.update)
    _check_finite(np.isfinite(result.blended).all() and np.isfinite(result.losses["total"]).all(),
                  ", ".join(p for p, _ in jobs[:3]))
    fills_of, fill_count = result.fills, result.fill_count
  outputs = []
  for k, (photo, (path, out_path)) in enumerate(zip(photos, jobs)):
    fills = fills_of[k, :fill_count[k]]  # the distinct ones, best first
    if len(fills) < config.search.fills and small_masks[k].min() < 1.0:
      print(f"{path}: only {len(fills)} of the {config.search.fills} fills asked for differ; "
            "more --restarts give more")
    if _PASTE_BACK.value:
      shown = [photos_lib.paste_back(photo, fill, full_masks[k]) for fill in fills]
    else:
      shown = [images_lib.to_uint8(fill) for fill in fills]
    outputs.append((out_path, shown[0] if len(shown) == 1 else images_lib.grid(
        np.stack(shown), columns=len(shown))))
  files = {out_path: images_lib.encode_image(out_path, image) for out_path, image in outputs}
  try:  # all or nothing, and only once everything else succeeded
    images_lib.atomic_write_files(files)
  except OSError as e:
    raise commands.UserError(f"could not write {e.filename or 'the results'}: "
                             f"{e.strerror or e}; no result was written") from e
  for out_path in files:
    print(f"wrote {out_path}")


def serve() -> None:
  """Serves the page to paint a hole and fill it (`inpaint_jax.serve.app`)."""
  try:
    from inpaint_jax.serve import app as serve_app  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise commands.UserError(f"serve needs the [serve] extra ({e.name} is missing): pip "
                             "install 'inpaint-jax[serve]'") from e
  encoder = _ENCODER.value
  if encoder and not _CHECKPOINT.value:
    raise commands.UserError("--encoder is for the model of --checkpoint; give both")
  inpainter = serve_app.Inpainter(serve_app.default_models(_CHECKPOINT.value, encoder))
  try:  # loads the first model (the one given at start) now, so a bad file fails here
    inpainter.warm_up()  # and compiles its default search in the background
  except serve_app.RequestError as e:
    raise commands.UserError(str(e)) from e
  serve_app.serve(inpainter, _HOST.value, _PORT.value)


# The flags of this module each command takes; any other given is refused, not ignored.
_SEARCH_NAMES = ("preset", "encoder", *(n for n in search_config.USER_FLAGS if n != "fills"))
_TAKES = {
    "demo": {"checkpoint", "out", "seed", *_SEARCH_NAMES},
    "inpaint": {"checkpoint", "image", "input_dir", "mask", "mask_type", "out", "output_dir",
                "crop", "paste_back", "seed", "fills", *_SEARCH_NAMES},
    "serve": {"checkpoint", "encoder", "host", "port"},
}
_WHY_NOT = {"serve": "serve takes its search settings from the page"}


def _refuse_flags_of_other_commands(command: str) -> None:
  holders = {h.name: h for h in (_CHECKPOINT, _IMAGE, _INPUT_DIR, _MASK, _MASK_TYPE, _OUT,
                                  _OUTPUT_DIR, _CROP, _PASTE_BACK, _SEED, _HOST, _PORT)}
  holders.update(_SEARCH, preset=_PRESET, encoder=_ENCODER)
  given = sorted(f"--{name}" for name, holder in holders.items()
                 if holder.present and name not in _TAKES[command])
  if given:
    why = _WHY_NOT.get(command, f"{command} does not take {'it' if len(given) == 1 else 'them'}")
    raise commands.UserError(f"{' '.join(given)}: {why}; {command} takes "
                             f"{', '.join('--' + n for n in sorted(_TAKES[command]))}")


def main(argv):
  commands.choose_backend()
  command = argv[1] if len(argv) > 1 else None
  if len(argv) > 2:
    raise commands.UserError(f"unexpected arguments: {' '.join(argv[2:])}")
  if command in _TAKES:
    _refuse_flags_of_other_commands(command)
  if command == "demo":
    demo(_OUT.value or "demo_out")
  elif command == "inpaint":
    inpaint_photos()
  elif command == "serve":
    serve()
  else:
    raise commands.UserError("usage: inpaint-jax {demo|inpaint|serve} [--flags]; see "
                             "inpaint-jax --help")


def run():
  """Console-script entry point."""
  # absl files the flags of a module run as a script under its path.
  defined_in = sys.argv[0] if __name__ == "__main__" else __name__
  sys.argv[0] = "inpaint-jax"
  # `--help` shows this module's docstring and flags, whatever script started us.
  sys.modules["__main__"].__doc__ = f"{__doc__}\nflags:\n{flags.FLAGS.module_help(defined_in)}"
  commands.run_main(main)


if __name__ == "__main__":
  run()
