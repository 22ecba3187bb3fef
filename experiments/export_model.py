"""Exports G and D of a training workdir into one model file (what the package ships).

  python experiments/export_model.py --workdir runs/celeba_ngf32 \
      --out inpaint_jax/assets/celeba_dcgan.msgpack --dtype float16
"""

from absl import flags
import numpy as np

from inpaint_jax import commands
from inpaint_jax.train import checkpoints

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
_OUT = flags.DEFINE_string("out", None, "Output .msgpack file.")
_DTYPE = flags.DEFINE_enum("dtype", "float16", ["float16", "float32"], "Storage precision.")
_EMA = flags.DEFINE_bool("ema", True, "Export the moving average of G's weights (where the run "
                         "kept one); --noema exports the raw G.")
flags.mark_flags_as_required(["workdir", "out"])


def main(argv):
  del argv
  config, g_vars, d_vars = checkpoints.load_model(_WORKDIR.value, _STEP.value, ema=_EMA.value)
  checkpoints.export_model(_OUT.value, config, g_vars, d_vars, dtype=np.dtype(_DTYPE.value))
  print(f"wrote {_OUT.value}")


if __name__ == "__main__":
  commands.run_main(main)
