"""Trains the latent encoder E (search start, Lahiri et al. 2020) for one trained DCGAN.

  python experiments/train_latent_encoder.py \
      --config inpaint_jax/configs/latent_encoder.py:celeba --workdir runs/encoder_celeba

`--config.dcgan` names the DCGAN (default: the dataset's bundled model). Started again
with the same --workdir it resumes from the latest checkpoint. Export it with
experiments/export_model.py and pass the file to the CLI's --encoder.
"""

from inpaint_jax import commands
from inpaint_jax.train import latent_encoder

if __name__ == "__main__":
  commands.run_training(latent_encoder.train_and_evaluate, "Latent encoder (`:<dataset>`)")
