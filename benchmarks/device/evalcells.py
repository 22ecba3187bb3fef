"""Hole-PSNR cells of one model file for `run.sh`: every preset x split x mask type in one
process (each compiles once; `inpaint_split.py` runs one cell per process)."""
import json
import time

from absl import flags
from inpaint_jax import commands
from inpaint_jax import model_files
from inpaint_jax.configs import presets
from inpaint_jax.configs import search as search_config
from inpaint_jax.data import sources
from inpaint_jax.evaluation import runner

flags.DEFINE_string("model", None, "")
flags.DEFINE_string("encoder", None, "")
flags.DEFINE_string("folder", None, "")
flags.DEFINE_string("out", None, "")
flags.DEFINE_list("presets", ["paper"], "paper, fast, sharp, sharp_mirror")
flags.DEFINE_list("splits", ["test", "val"], "")
flags.DEFINE_string("test_split", "range:06645:06744", "the test cells' images")
flags.DEFINE_string("val_split", "range:06745:06844", "the validation cells' images")
flags.DEFINE_list("masks", ["center", "pattern", "random", "half"], "")
flags.DEFINE_integer("num_images", 100, "")
flags.DEFINE_integer("iterations", None, "local smoke test only")
FLAGS = flags.FLAGS


def main(_):
  for label in FLAGS.presets:
    preset, mirror = label.split("_")[0], label.endswith("_mirror")
    search = search_config.settings(preset, dict(mirror=mirror or None,
                                                 iterations=FLAGS.iterations))
    config, params = model_files.load_params(FLAGS.model, search, FLAGS.encoder)
    presets.use_source(config, FLAGS.folder or "")
    for split in FLAGS.splits:
      source = sources.make_source(config.dataset, getattr(FLAGS, f"{split}_split"),
                                   config.model.image_size)
      for mask in FLAGS.masks:
        t = time.time()
        s = runner.run_cell(source, runner.ours(params, config, 0, name=label),
                            f"{FLAGS.out}/{label}_{split}/{mask}", mask, seed=0,
                            batch_size=100, num_images=FLAGS.num_images,
                            write_images=False, progress=False)
        print("CELL", json.dumps({"model": FLAGS.model, "preset": label, "split": split,
                                  "mask": mask, "psnr_hole": s.get("mean_psnr_hole"),
                                  "psnr_hole_sem": s.get("sem_psnr_hole"),
                                  "lpips_hole": s.get("mean_lpips_hole"),
                                  "seconds": round(time.time() - t, 1)}), flush=True)


if __name__ == "__main__":
  commands.run_main(main)
