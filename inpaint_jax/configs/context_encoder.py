"""The Context Encoder baseline of Table 1, one model per dataset and mask type.

  python experiments/train_context_encoder.py \
      --config inpaint_jax/configs/context_encoder.py:celeba,center --workdir runs/ce_celeba_center

The argument is `<dataset>,<mask type>`: dataset `celeba` (../shared/data/celeba_align),
`cars` (../shared/data/cars_bbox) or a TFDS name (`celeb_a`, `svhn_cropped`, `cars196`);
mask type one of center, pattern, random, half. The CE is trained on that mask type's
masks only, as Yeh et al. did for a fair comparison. nf = 64 is Pathak et al.'s width and
wants a GPU; `--config.model.nf=32 --config.model.ndf=32 --config.num_steps=800` takes
about 13 minutes on one CPU core and gives 20.8 dB PSNR over the hole on 100 CelebA test
images with centre masks (the paper's CE: 21.3 dB; BUILD_NOTES.md).
"""

import ml_collections

from inpaint_jax.configs import default

_FOLDERS = {
    "celeba": ("../shared/data/celeba_align", "range:000001:008000", "range:008001:009000",
               "center", 108 / 178),
    "cars": ("../shared/data/cars_bbox", "range:00001:06644", "range:06645:07644", "none", None),
}
_TFDS = {"celeb_a": "center", "svhn_cropped": "none", "cars196": "bbox"}


def get_config(arg: str = "celeba,center") -> ml_collections.ConfigDict:
  dataset, mask_type = (arg.split(",") + ["center"])[:2]
  base = default.get_config()
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.mask_type = mask_type
  # Training masks are drawn from seeds far from the evaluation seeds (0, 1, ...).
  config.mask_seed = 1_000_003

  config.model = ml_collections.ConfigDict()
  config.model.nf = 64
  config.model.ndf = 64
  config.model.kernel_size = 4
  config.model.image_size = 64
  config.model.conv_impl = "subpixel"

  config.dataset = base.dataset
  if dataset in _FOLDERS:
    folder, train, test, crop, fraction = _FOLDERS[dataset]
    config.dataset.source = "folder"
    config.dataset.folder = folder
    config.dataset.train_split, config.dataset.test_split = train, test
    config.dataset.crop = crop
    config.dataset.crop_fraction = fraction
  elif dataset in _TFDS:
    config.dataset.source = "tfds"
    config.dataset.name = dataset
    config.dataset.train_split, config.dataset.test_split = "train", "test"
    config.dataset.crop = _TFDS[dataset]
  else:
    raise ValueError(f"unknown dataset {dataset!r}: use celeba, cars or one of {sorted(_TFDS)}")
  config.dataset.name = config.dataset.name or dataset
  config.fill_colour_images = 2000  # training images averaged for the hole's pre-fill colour

  config.batch_size = 64
  config.num_steps = 10_000
  config.learning_rate = 2e-4
  config.beta1 = 0.5
  config.beta2 = 0.999
  config.adversarial_weight = 0.001
  config.random_flip = True

  config.log_every = 50
  config.sample_every = 500
  config.checkpoint_every = 500
  config.keep_checkpoints = 2
  config.progress_bar = True
  return config
