"""Shared fixtures: small folders of generated images; nothing here reads ../shared."""

import os

import numpy as np
import pytest
from PIL import Image


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


@pytest.fixture(scope="session", autouse=True)
def shared_compilation_cache(tmp_path_factory):
  """The slow tests start many Python processes that compile the same programs: they share
  one persistent JAX compilation cache (this process imported jax before any fixture ran,
  so it keeps compiling in memory only)."""
  patch = pytest.MonkeyPatch()
  patch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path_factory.mktemp("jax_cache")))
  patch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
  patch.setenv("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
  yield
  patch.undo()
