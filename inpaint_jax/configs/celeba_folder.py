"""Paper-size DCGAN on an aligned-CelebA image folder (e.g. ../shared/data/celeba_align).

  python experiments/train_dcgan.py --config inpaint_jax/configs/celeba_folder.py \
      --workdir runs/celeba --config.dataset.folder=../shared/data/celeba_align

Train split: files 000001-008000; test split: 008001-008800; validation: 008801-009000. The 108/178 centre crop
frames half-size (89x109) and full-size (178x218) files alike. On a 2-core CPU the
paper-size model runs at about 0.3 steps/s (see BUILD_NOTES.md); 10k steps give clear faces.
"""

from inpaint_jax.configs import default
from inpaint_jax.configs import presets


def get_config():
  config = presets.apply_dataset(default.get_config(), "celeba")
  return config
