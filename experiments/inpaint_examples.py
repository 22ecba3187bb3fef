"""Inpaints a few test images with every mask type; writes a picture grid and prints PSNR.

  python experiments/inpaint_examples.py --checkpoint runs/celeba \
      --folder ../shared/data/celeba_align --split range:008001:008800 --num_images 8 \
      --out results/examples_celeba

Rows of the grid: original, masked input, G(ẑ), blended; one block per mask type. Each
mask type's cell (results.csv, summary.json, PNGs) is under --out/<mask type>/.
"""

from absl import app
from absl import flags

from inpaint_jax import commands
from inpaint_jax.data import masks
from inpaint_jax.data import sources
from inpaint_jax.evaluation import examples
from inpaint_jax.evaluation import runner
from inpaint_jax.train import checkpoints

_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Training workdir or exported model file.")
_FOLDER = flags.DEFINE_string("folder", None, "Image folder (default: the checkpoint's dataset).")
_SPLIT = flags.DEFINE_string("split", None, "Split of the folder (default: the config's test split).")
_NUM = flags.DEFINE_integer("num_images", 8, "How many images, from the start of the split.")
_MASKS = flags.DEFINE_list("mask_types", list(masks.MASK_TYPES), "Mask types to run.")
_ITERS = flags.DEFINE_integer("iterations", None, "Search iterations (default: config, 1500).")
_RESTARTS = flags.DEFINE_integer("restarts", None, "Random restarts per image.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of masks and starting points.")
_OUT = flags.DEFINE_string("out", "results/examples", "Output folder.")
_PICTURE = flags.DEFINE_integer("picture_images", 8, "How many images the picture shows.")
flags.mark_flag_as_required("checkpoint")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  commands.one_cpu_device_per_core()
  config, params = checkpoints.load_params(_CHECKPOINT.value, iterations=_ITERS.value,
                                           restarts=_RESTARTS.value, folder=_FOLDER.value)
  folder = config.dataset.folder if config.dataset.source == "folder" else None
  commands.check_paths({"--out": _OUT.value}, {"--checkpoint": _CHECKPOINT.value,
                                               "--folder": folder})
  source = sources.make_source(config.dataset, _SPLIT.value or config.dataset.test_split,
                               config.model.image_size)
  method = runner.ours(params, config, _SEED.value)
  examples.run_examples(source, method, _OUT.value, _MASKS.value, _SEED.value,
                        num_images=_NUM.value, picture_images=_PICTURE.value)


if __name__ == "__main__":
  commands.run_main(main)
