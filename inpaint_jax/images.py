"""Image files: atomic PNG writes, picture grids and reading a user's image."""

from __future__ import annotations

import os
import tempfile

import numpy as np
from PIL import Image


def atomic_write_bytes(path: str, data: bytes) -> None:
  """Writes `data` to `path` via a temporary file in the same folder and a rename."""
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=folder)
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a normal file's mode is wanted
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def save_png(path: str, image: np.ndarray) -> None:
  """Saves uint8 [H, W, 3] or [H, W] atomically as PNG."""
  import io
  buf = io.BytesIO()
  Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="PNG")
  atomic_write_bytes(path, buf.getvalue())


def grid(images: np.ndarray, columns: int, pad: int = 2, pad_value: int = 255) -> np.ndarray:
  """uint8 [N, H, W, 3] -> one uint8 image of ceil(N / columns) rows."""
  images = np.asarray(images, np.uint8)
  n, h, w, c = images.shape
  rows = -(-n // columns)
  out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), pad_value, np.uint8)
  for i in range(n):
    r, k = divmod(i, columns)
    out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + k * (w + pad):pad + k * (w + pad) + w] = images[i]
  return out


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
  """Nearest-neighbour enlargement so 64x64 pictures are easy to look at."""
  return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
