"""The latent encoder E (search start) for a trained DCGAN, one per model.

  python experiments/train_latent_encoder.py \
      --config inpaint_jax/configs/latent_encoder.py:celeba --workdir runs/encoder_celeba
  python experiments/export_model.py --workdir runs/encoder_celeba \
      --out inpaint_jax/assets/celeba_encoder.msgpack

The argument is a preset of `presets.DATASETS`; `dcgan` defaults to that dataset's bundled
model (`--config.dcgan=<workdir or model file>` for your own). E learns from G's own
samples (their z known) and from real training images (through the context loss alone),
under masks of the four types of Table 1 (`--config.mask_type`: another mix or one type).
nf = 32, 3,000 steps: about 40 minutes on one CPU core; it makes the search reach the
paper setting's hole PSNR in far fewer iterations (BUILD_NOTES.md, "Encoder start").
1,500 more steps on all eight mask types moved no validation cell by more than its
standard error (BUILD_NOTES.md 0.16).
"""

import ml_collections

from inpaint_jax.configs import presets
from inpaint_jax.configs import training


def get_config(arg: str = "celeba") -> ml_collections.ConfigDict:
  config = training.get_config(learning_rate=5e-4, beta1=0.9, num_steps=3000, keep_checkpoints=2)
  # The DCGAN whose latent space E maps into: a model file or a training workdir.
  config.dcgan = (presets.bundled_model_path(arg) if arg in presets.BUNDLED_MODELS
                  else ml_collections.config_dict.placeholder(str))
  # Training masks come from seeds far from the evaluation seeds (0, 1, ...).
  config.mask_seed = 2_000_003
  # The masks E learns under: a mix of `masks.TRAINING_MIXES` ("paper": the four of Table 1;
  # "lama": the irregular four; "all": the eight) or one mask type.
  config.mask_type = "paper"
  # Start from the E of an encoder file or workdir for the same G (fresh Adam state).
  config.init_from = ""
  # Allow `init_from` an E trained for another G (of this z and image size): a warm start
  # for a fine-tuned G, whose latent space is close to its parent's.
  config.init_from_other_generator = False

  config.model = ml_collections.ConfigDict()
  config.model.nf = 32
  config.model.image_size = 64  # must be the DCGAN's (checked)
  # What G and E multiply in: 'float32' or 'bfloat16' (parameters, Adam, losses float32).
  config.model.compute_dtype = "float32"

  presets.apply_dataset(config, arg)

  # batch_size: real images; as many of G's samples ride along.
  config.latent_weight = 1.0  # the z regression on samples, beside the context losses
  return config
