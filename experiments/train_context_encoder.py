"""Trains the Context Encoder baseline (Pathak et al. 2016) on one mask type.

  python experiments/train_context_encoder.py \
      --config inpaint_jax/configs/context_encoder.py:celeba,center --workdir runs/ce_celeba_center

Started again with the same --workdir it resumes from the latest checkpoint.
"""

from absl import app
from absl import flags
from ml_collections import config_flags

from inpaint_jax import commands
from inpaint_jax.train import context_encoder

_CONFIG = config_flags.DEFINE_config_file("config", None, "CE config file (with :dataset,mask).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, samples and logs go.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  context_encoder.train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  commands.run_main(main)
