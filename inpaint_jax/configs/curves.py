"""Hole PSNR (and SSIM, LPIPS) against time per image for the search's setting families
(`experiments/search_curves.py`, `evaluation/curves.py`), on the validation split: where
the presets are chosen, never on test images.

  python experiments/search_curves.py --config=inpaint_jax/configs/curves.py \
      --config.checkpoint=cars --out=results/curves

~25 min per dataset for 32 images x 4 masks on a 2-core CPU (the paper family's 1,500
iterations are most of it).
"""

import ml_collections

from inpaint_jax.configs import split


def get_config() -> ml_collections.ConfigDict:
  config = split.get_config("paper")  # checkpoint, encoder, folder, tfds_name, split, seed
  for name in ("mask_type", "batch_size", "write_images", "fresh", "search"):
    del config[name]
  config.split = "validation"
  config.num_images = 32
  config.mask_types = ("center", "pattern", "random", "half")
  config.families = ("paper", "halving", "encoder", "encoder+mirror", "encoder+halving",
                     "encoder+tune", "encoder+tune+mirror")  # evaluation/curves.py FAMILIES
  config.name = ""  # of the output files (default: the checkpoint's name)
  return config
