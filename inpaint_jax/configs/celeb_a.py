"""Paper-size DCGAN on TFDS `celeb_a` (108x108 centre crop of the 178x218 aligned faces).

  python experiments/train_dcgan.py --config inpaint_jax/configs/celeb_a.py \
      --workdir runs/celeb_a [--config.dataset.data_dir=~/tensorflow_datasets]

Needs `pip install -e '.[tfds]'` and the CelebA download that TFDS performs (1.4 GB).
About 25 epochs (80k steps at batch 64), Radford's schedule.
"""

from inpaint_jax.configs import default
from inpaint_jax.configs import presets


def get_config():
  config = presets.apply_dataset(default.get_config(), "celeb_a")
  config.num_steps = 80_000
  config.checkpoint_every = 2000
  config.sample_every = 2000
  return config
