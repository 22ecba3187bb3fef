"""Trains the Context Encoder baseline (Pathak et al. 2016) on one mask type.

  python experiments/train_context_encoder.py \
      --config inpaint_jax/configs/context_encoder.py:celeba,center --workdir runs/ce_celeba_center

Started again with the same --workdir it resumes from the latest checkpoint.
"""

from inpaint_jax import commands
from inpaint_jax.train import context_encoder

if __name__ == "__main__":
  commands.run_training(context_encoder.train_and_evaluate, "Context Encoder (`:<dataset>,<mask type>`)")
