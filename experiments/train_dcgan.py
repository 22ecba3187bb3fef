"""Trains the DCGAN of Yeh et al. (2017).

  python experiments/train_dcgan.py --config inpaint_jax/configs/celeba_folder.py \
      --workdir runs/celeba --config.num_steps=200

Started again with the same --workdir it resumes from the latest checkpoint.
"""

from absl import app
from absl import flags
from ml_collections import config_flags

from inpaint_jax import commands
from inpaint_jax.train import dcgan

_CONFIG = config_flags.DEFINE_config_file("config", None, "Training config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, samples and logs go.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  dcgan.train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  commands.run_main(main)
