"""Reproduces Table 1 of Yeh et al.: CE, ours, TV, NN and Telea on every dataset x mask type.

  python experiments/reproduce_table1.py \
      --celeba_folder ../shared/data/celeba_align --cars_folder ../shared/data/cars_bbox \
      --ce_root runs/table1/ce --workdir runs/table1 --out results/table1 --num_images 100

CE models come from `<ce_root>/<dataset>_<mask>` workdirs (experiments/train_context_encoder.py).
The DCGANs default to the bundled models; SVHN runs only with --svhn_checkpoint (TFDS
svhn_cropped). Every cell is resumable and cached under --workdir; --num_images 0 runs the
whole test splits. Writes table1.md, table1.csv and the figures to --out.
"""

from absl import app
from absl import flags

from inpaint_jax import commands
from inpaint_jax.configs import presets
from inpaint_jax.data import masks
from inpaint_jax.evaluation import table1

_CELEBA_FOLDER = flags.DEFINE_string("celeba_folder", None, "Aligned CelebA image folder.")
_CELEBA_TFDS = flags.DEFINE_bool("celeba_tfds", False, "CelebA from TFDS celeb_a instead.")
_CELEBA_CKPT = flags.DEFINE_string("celeba_checkpoint", None, "Face DCGAN (default: bundled).")
_CARS_FOLDER = flags.DEFINE_string("cars_folder", None, "Stanford Cars box-cropped folder.")
_CARS_TFDS = flags.DEFINE_bool("cars_tfds", False, "Cars from TFDS cars196 instead.")
_CARS_CKPT = flags.DEFINE_string("cars_checkpoint", None, "Cars DCGAN (default: bundled).")
_SVHN_CKPT = flags.DEFINE_string("svhn_checkpoint", None, "SVHN DCGAN (TFDS svhn_cropped).")
_CE_ROOT = flags.DEFINE_string("ce_root", None, "Folder of <dataset>_<mask> CE workdirs.")
_WORKDIR = flags.DEFINE_string("workdir", "runs/table1", "Cache of every cell's results.")
_OUT = flags.DEFINE_string("out", "results/table1", "Where the table and figures go.")
_NUM = flags.DEFINE_integer("num_images", 100, "Test images per cell (0: whole split).")
_ITERS = flags.DEFINE_integer("iterations", 1500, "Latent search iterations.")
_RESTARTS = flags.DEFINE_integer("restarts", 1, "Random restarts per image.")
_BATCH = flags.DEFINE_integer("batch_size", 50, "Images per search batch (all devices).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of masks and starting points.")
_METHODS = flags.DEFINE_list("methods", list(table1.METHODS), "Methods to run.")
_MASKS = flags.DEFINE_list("mask_types", list(masks.MASK_TYPES), "Mask types to run.")
_NN = flags.DEFINE_bool("nearest_neighbour", True, "Load the train splits for NN retrieval.")
_FIGURE_IMAGES = flags.DEFINE_integer("figure_images", 6, "Test images per Fig. 8 grid.")
_ABLATION_IMAGES = flags.DEFINE_integer(
    "ablation_images", 8, "Images of the prior/blending ablations and loss curve (0: skip them).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  commands.one_cpu_device_per_core()
  inputs = {"--celeba_folder": _CELEBA_FOLDER.value, "--cars_folder": _CARS_FOLDER.value,
            "--ce_root": _CE_ROOT.value, "--celeba_checkpoint": _CELEBA_CKPT.value,
            "--cars_checkpoint": _CARS_CKPT.value, "--svhn_checkpoint": _SVHN_CKPT.value}
  commands.check_paths({"--workdir": _WORKDIR.value, "--out": _OUT.value}, inputs)
  common = dict(ce_root=_CE_ROOT.value, iterations=_ITERS.value, restarts=_RESTARTS.value,
                with_train=_NN.value and "nn" in _METHODS.value)
  runs, missing = [], {}
  for name, folder, tfds_on, tfds_name, ckpt in (
      ("celeba", _CELEBA_FOLDER.value, _CELEBA_TFDS.value, "celeb_a", _CELEBA_CKPT.value),
      ("cars", _CARS_FOLDER.value, _CARS_TFDS.value, "cars196", _CARS_CKPT.value)):
    if folder or tfds_on:
      runs.append(table1.build_run(name, ckpt or presets.bundled_model_path(name), folder=folder,
                                   tfds_name=tfds_name if tfds_on else None, **common))
    else:
      missing[name] = f"no --{name}_folder or --{name}_tfds given"
  if _SVHN_CKPT.value:
    runs.append(table1.build_run("svhn", _SVHN_CKPT.value, tfds_name="svhn_cropped", **common))
  else:
    missing["svhn"] = ("SVHN is read only through TFDS (svhn_cropped), which needs a download "
                       "and an SVHN DCGAN (--svhn_checkpoint); neither exists on this machine")
  if not runs:
    raise app.UsageError("no dataset given: pass --celeba_folder, --cars_folder, ...")
  table1.reproduce(runs, _WORKDIR.value, _OUT.value, missing, mask_types=_MASKS.value,
                   methods=_METHODS.value, num_images=_NUM.value or None, seed=_SEED.value,
                   batch_size=_BATCH.value, figure_images=_FIGURE_IMAGES.value,
                   ablation_images=_ABLATION_IMAGES.value)


if __name__ == "__main__":
  commands.run_main(main)
