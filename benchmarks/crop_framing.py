"""How much the CLI's framing of a photo matters: hole PSNR at the photo's own resolution,
`--crop auto` (the model's training framing) against `--crop square` (the whole centred
square, the CLI's only framing before 0.10), on the same photos and holes.

  python benchmarks/crop_framing.py --dataset celeba   # 48 CelebA test photos, ~2 min (CPU)
  python benchmarks/crop_framing.py --dataset cars

Each photo gets a centred square hole (celeba: half the side of the faces' training crop,
108/178 of the shorter side; cars: half the photo's height, so it fits both framings), is
filled through the CLI's own path (`data/photos.py` read_photo and shrink_mask, `inpaint`,
paste_back) and scored over the hole's photo pixels. Prints each framing's mean ± standard error and the
paired difference. BUILD_NOTES.md 0.10: celeba +3.03 ± 0.31 dB, cars +0.54 ± 0.23 (fast).
"""

import os

from absl import app
from absl import flags
import numpy as np

from inpaint_jax import model_files
from inpaint_jax.configs import presets
from inpaint_jax.configs import search as search_config
from inpaint_jax.core import inpaint as inpaint_lib
from inpaint_jax.data import images as images_lib
from inpaint_jax.data import photos as photos_lib
from inpaint_jax.data import sources
from inpaint_jax.evaluation import metrics
from inpaint_jax.evaluation import runner

_DATASET = flags.DEFINE_enum("dataset", "celeba", ["celeba", "cars"], "Dataset preset.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Model (default: the bundled one).")
_FOLDER = flags.DEFINE_string("folder", None, "Photo folder (default: the preset's).")
_SPLIT = flags.DEFINE_string("split", None, "Split (default: the preset's test split).")
_NUM = flags.DEFINE_integer("num_images", 48, "Photos, the split's first.")
_PRESET = flags.DEFINE_enum("preset", "fast", list(search_config.PRESETS), "Search preset.")
_ITERATIONS = flags.DEFINE_integer("iterations", None, "Search iterations (default: the preset's).")
_SEED = flags.DEFINE_integer("seed", 0, "Search seed.")


def hole(h: int, w: int, dataset: str) -> np.ndarray:
  """The photo-size mask [h, w] (1 = known) with the centred square hole."""
  side = round(108 / 178 * min(h, w) / 2) if dataset == "celeba" else h // 2
  mask = np.ones((h, w), np.float32)
  top, left = (h - side) // 2, (w - side) // 2
  mask[top:top + side, left:left + side] = 0.0
  return mask


def main(argv):
  del argv
  preset = presets.DATASETS[_DATASET.value]
  folder = _FOLDER.value or preset["folder"]
  names = sources.list_split(folder, _SPLIT.value or preset["test_split"])[:_NUM.value]
  config, params = model_files.load_params(
      _CHECKPOINT.value or presets.bundled_model_path(_DATASET.value),
      search_config.settings(_PRESET.value, dict(iterations=_ITERATIONS.value)))
  size = config.model.image_size
  scores = {}
  for crop in ("auto", "square"):
    photos = [photos_lib.read_photo(os.path.join(folder, n), crop, config) for n in names]
    fulls = [hole(*p.original.shape[:2], _DATASET.value) for p in photos]
    smalls = np.stack([photos_lib.shrink_mask(p, m, size) for p, m in zip(photos, fulls)])
    out = inpaint_lib.inpaint(np.stack([p.model_input for p in photos]), smalls, params,
                              config, _SEED.value)
    scores[crop] = np.array([
        float(metrics.psnr(images_lib.to_float(photos_lib.paste_back(p, filled, m))[None],
                           images_lib.to_float(p.original)[None], (1.0 - m)[None])[0])
        for p, filled, m in zip(photos, out.blended, fulls)])
    mean, sem = runner.mean_and_sem(scores[crop])
    print(f"{_DATASET.value} {_PRESET.value} --crop {crop:6s} ({photos[0].rule}): hole PSNR "
          f"{mean:.2f} ± {sem:.2f} dB over {len(names)} photos", flush=True)
  diff = scores["auto"] - scores["square"]
  mean, sem = runner.mean_and_sem(diff)
  print(f"{_DATASET.value} {_PRESET.value} auto - square: {mean:+.2f} ± {sem:.2f} dB, auto "
        f"better on {(diff > 0).sum()} of {len(diff)}")


if __name__ == "__main__":
  app.run(main)
