"""Trains the DCGAN of Yeh et al. (2017).

  python experiments/train_dcgan.py --config inpaint_jax/configs/celeba_folder.py \
      --workdir runs/celeba --config.num_steps=200

Started again with the same --workdir it resumes from the latest checkpoint.
"""

from inpaint_jax import commands
from inpaint_jax.train import dcgan

if __name__ == "__main__":
  commands.run_training(dcgan.train_and_evaluate, "DCGAN training")
