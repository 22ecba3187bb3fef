"""Inpaints every image of a split with one mask type: PNGs, a CSV row each, a summary.

  python experiments/inpaint_split.py --checkpoint runs/celeba --mask_type center \
      --folder ../shared/data/celeba_align --split range:008001:008800 --out results/celeba_center

Shards each batch over all local devices. On several hosts, start the same command on
each with --coordinator_address, --num_processes and --process_id: the hosts share the
batches and the last one to finish writes results.csv. Killed and started again with the
same --out and settings, it resumes where it stopped; other settings are refused.
"""

from absl import app
from absl import flags
import jax

from inpaint_jax import commands
from inpaint_jax.data import masks
from inpaint_jax.data import sources
from inpaint_jax.evaluation import runner
from inpaint_jax.train import checkpoints

_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Training workdir or model file.")
_MASK_TYPE = flags.DEFINE_enum("mask_type", "center", list(masks.MASK_TYPES), "Mask type.")
_FOLDER = flags.DEFINE_string("folder", None, "Image folder (default: the checkpoint's dataset).")
_TFDS = flags.DEFINE_string("tfds_name", None, "TFDS builder instead of a folder.")
_SPLIT = flags.DEFINE_string("split", None, "Split (default: the config's test split).")
_OUT = flags.DEFINE_string("out", None, "Output folder.")
_NUM = flags.DEFINE_integer("num_images", None, "Only the first N images.")
_SEARCH = commands.define_search_flags()
flags.adopt_module_key_flags(commands)  # --help lists the search flags too
_BATCH = flags.DEFINE_integer("batch_size", 64, "Images per batch (all devices together).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of masks and starting points.")
_WRITE_IMAGES = flags.DEFINE_bool("write_images", True, "Write the PNGs of every image.")
_FRESH = flags.DEFINE_bool("fresh", False, "Discard what --out holds (made with other "
                           "settings) and start again.")
_COORD = flags.DEFINE_string("coordinator_address", None, "jax.distributed coordinator host:port.")
_NPROC = flags.DEFINE_integer("num_processes", 1, "Number of hosts.")
_PID = flags.DEFINE_integer("process_id", 0, "This host's index.")
flags.mark_flags_as_required(["checkpoint", "out"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _FOLDER.value and _TFDS.value:
    raise commands.UserError("give one of --folder or --tfds_name, not both")
  if _COORD.value:
    jax.distributed.initialize(_COORD.value, _NPROC.value, _PID.value)
  else:  # several hosts: each already runs its own share
    commands.one_cpu_device_per_core()
  config, params = checkpoints.load_params(_CHECKPOINT.value, folder=_FOLDER.value,
                                           tfds_name=_TFDS.value, **_SEARCH.overrides())
  folder = config.dataset.folder if config.dataset.source == "folder" else None
  commands.check_paths({"--out": _OUT.value},
                       {"--checkpoint": _CHECKPOINT.value, "--folder": folder,
                        "--encoder": _SEARCH.overrides().get("encoder")})
  source = sources.make_source(config.dataset, _SPLIT.value or config.dataset.test_split,
                               config.model.image_size)
  method = runner.ours(params, config, _SEED.value)
  summary = runner.run_cell(source, method, _OUT.value, _MASK_TYPE.value, seed=_SEED.value,
                            batch_size=_BATCH.value, num_images=_NUM.value,
                            write_images=_WRITE_IMAGES.value, fresh=_FRESH.value)
  if "mean_psnr_hole" in summary:
    print(f"{_OUT.value}: {_MASK_TYPE.value} masks, {runner.summary_line(summary)}"
          f"; every score in {_OUT.value}/summary.json")
  else:  # another host merges the cell
    print(f"{_OUT.value}: {summary.get('images_done_here', 0)} images done by this host")


if __name__ == "__main__":
  commands.run_main(main)
