"""Shared fixtures: small folders of generated images; nothing here reads ../shared."""

import atexit
import os
import shutil
import tempfile

# Many tests (and the Python processes the slow ones start) compile the same programs; one
# persistent JAX compilation cache for the whole run turns the repeats into loads. Set before
# any test module imports jax, so this process uses it too; removed when the run ends.
_CACHE = tempfile.mkdtemp(prefix="inpaint_jax_test_jax_cache_")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"
# The tests' models are tiny, so their time is XLA compiling, not running: compiling without
# LLVM's optimisations took the suite from 708 s to 566-620 s on the 2-core VM and changes
# no result a test checks (the suite passes both ways). The slow tests' processes inherit it
# (`host_devices_env` keeps it).
os.environ["XLA_FLAGS"] = " ".join(
    f for f in (os.environ.get("XLA_FLAGS", ""), "--xla_backend_optimization_level=0") if f)

# Every command chooses its CPU backend at start (`commands.choose_backend`), measuring the
# machine once (~20 s) where nothing is cached. The suite's tiny models compile without
# LLVM's optimisations, which would make that measurement meaningless, so its processes run
# with the choice off (XLA's defaults, 'subpixel'); tests/test_backend.py turns it on.
os.environ["INPAINT_JAX_BACKEND"] = "off"

import jax  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import pytest  # pylint: disable=wrong-import-position
from PIL import Image  # pylint: disable=wrong-import-position

from inpaint_jax import model_files  # pylint: disable=wrong-import-position
from inpaint_jax.configs import tiny  # pylint: disable=wrong-import-position
from inpaint_jax.models import dcgan  # pylint: disable=wrong-import-position


def host_devices_env(n: int) -> dict:
  """This process's environment for a Python process with n host (CPU) devices."""
  return dict(os.environ, XLA_FLAGS=f"{os.environ['XLA_FLAGS']} "
                                    f"--xla_force_host_platform_device_count={n}")


def export_tiny_model(path, distinct_fills=False):
  """A tiny randomly initialised DCGAN (`configs/tiny.py`: 32x32, z_dim 16) as a model file at
  `path`; `distinct_fills` scales G's last kernel so restarts give visibly different fills."""
  config = tiny.get_config()
  g_vars, d_vars = dcgan.init_variables(config.model, jax.random.PRNGKey(0))
  if distinct_fills:
    g_vars = jax.tree.map(np.asarray, g_vars)
    g_vars["params"]["deconv2"]["kernel"] = g_vars["params"]["deconv2"]["kernel"] * 5000.0
  model_files.export_model(str(path), config, g_vars, d_vars)
  return str(path)


def write_images(folder, count, size=(40, 30), seed=0, fmt="jpg", mode="RGB"):
  rng = np.random.default_rng(seed)
  os.makedirs(folder, exist_ok=True)
  names = []
  for i in range(count):
    w, h = size
    # Smooth colour ramps survive JPEG better than noise, so crops stay recognisable.
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.integers(0, 255, size=3)
    arr = np.stack([(base[c] + 3 * xx + 2 * yy) % 256 for c in range(3)], -1).astype(np.uint8)
    im = Image.fromarray(arr)
    if mode != "RGB":
      im = im.convert(mode)
    name = f"{i + 1:06d}.{fmt}"
    im.save(os.path.join(folder, name))
    names.append(name)
  return names


@pytest.fixture
def image_folder(tmp_path):
  folder = tmp_path / "images"
  write_images(str(folder), 24)
  return str(folder)
