"""The Context Encoder baseline of Table 1, one model per dataset and mask type.

  python experiments/train_context_encoder.py \
      --config inpaint_jax/configs/context_encoder.py:celeba,center --workdir runs/ce_celeba_center

The argument is `<dataset>,<mask type>`: a preset of `presets.DATASETS` (`celeba`, `cars`
folders, or the TFDS builders `celeb_a`, `svhn_cropped`, `cars196`);
mask type one of center, pattern, random, half (the CE is trained on that mask type's
masks only, as Yeh et al. did for a fair comparison), one of LaMa's thin, medium, thick,
box, or a mix (`data/masks.py` TRAINING_MIXES): `lama` (LaMa's four kinds in turn, as LaMa
trains on a mixture; Table 1 uses `<ce_root>/<dataset>_lama` for a kind without a CE of
its own) or `paper`. nf = 64 is Pathak et al.'s width and
wants a GPU; `--config.model.nf=32 --config.model.ndf=32 --config.num_steps=800` takes
about 13 minutes on one CPU core and gives 20.8 dB PSNR over the hole on 100 CelebA test
images with centre masks (the paper's CE: 21.3 dB; BUILD_NOTES.md).
"""

import ml_collections

from inpaint_jax.configs import presets
from inpaint_jax.configs import training


def get_config(arg: str = "celeba,center") -> ml_collections.ConfigDict:
  dataset, mask_type = (arg.split(",") + ["center"])[:2]
  config = training.get_config(keep_checkpoints=2)  # seed, dataset, Adam, logging
  config.mask_type = mask_type
  # Training masks are drawn from seeds far from the evaluation seeds (0, 1, ...).
  config.mask_seed = 1_000_003

  config.model = ml_collections.ConfigDict()
  config.model.nf = 64
  config.model.ndf = 64
  config.model.kernel_size = 4
  config.model.image_size = 64
  config.model.conv_impl = "auto"  # as the DCGAN's (configs/default.py)
  config.model.compute_dtype = "float32"

  presets.apply_dataset(config, dataset)
  config.fill_colour_images = 2000  # training images averaged for the hole's pre-fill colour

  config.adversarial_weight = 0.001
  return config
