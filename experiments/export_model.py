"""Exports a training workdir into one model file (what the package ships): G and D of a
DCGAN run, or E of a latent-encoder run.

  python experiments/export_model.py --workdir runs/celeba_ngf32 \
      --out inpaint_jax/assets/celeba_dcgan.msgpack --dtype float16
  python experiments/export_model.py --workdir runs/encoder_celeba \
      --out inpaint_jax/assets/celeba_encoder.msgpack
"""

from absl import flags
import numpy as np

from inpaint_jax import commands
from inpaint_jax import model_files
from inpaint_jax.train import latent_encoder

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
_OUT = flags.DEFINE_string("out", None, "Output .msgpack file.")
_DTYPE = flags.DEFINE_enum("dtype", "float16", ["float16", "float32"], "Storage precision.")
_EMA = flags.DEFINE_bool("ema", True, "Export the moving average of G's weights (where the run "
                         "kept one); --noema exports the raw G.")
flags.mark_flags_as_required(["workdir", "out"])


def main(argv):
  del argv
  commands.check_paths({"--out": _OUT.value}, {"--workdir": _WORKDIR.value})
  if latent_encoder.is_workdir(_WORKDIR.value):
    latent_encoder.export(_WORKDIR.value, _OUT.value, _STEP.value, np.dtype(_DTYPE.value))
    print(f"wrote {_OUT.value}")
    return
  config, g_vars, d_vars = model_files.load_model(_WORKDIR.value, _STEP.value, ema=_EMA.value)
  model_files.export_model(_OUT.value, config, g_vars, d_vars, dtype=np.dtype(_DTYPE.value))
  print(f"wrote {_OUT.value}")


if __name__ == "__main__":
  commands.run_main(main)
