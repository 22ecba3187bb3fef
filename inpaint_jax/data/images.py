"""Image values and files: [-1, 1] <-> uint8, image ids, atomic writes, picture grids."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile

import numpy as np
from PIL import Image
from PIL import ImageOps


def to_float(images: np.ndarray) -> np.ndarray:
  """uint8 [..., 3] in [0, 255] -> float32 in [-1, 1]."""
  out = np.divide(np.asarray(images), np.float32(127.5), dtype=np.float32)  # one pass, in place
  out -= np.float32(1.0)
  return out


def to_uint8(images) -> np.ndarray:
  """float in [-1, 1] -> uint8 in [0, 255] (rounded, clipped)."""
  return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def pixel_hashes(images) -> np.ndarray:
  """A stable id of each image, int64 [B] in [0, 2^31): a hash of its pixels at 8-bit precision.

  images: [B, H, W, 3], uint8 or float in [-1, 1]. Everything random about an image (its
  generated mask, its starting points) is keyed by (seed, id), so the same picture gets
  the same result wherever it sits in a batch, whatever the entry point.
  """
  images = np.asarray(images)
  pixels = images if images.dtype == np.uint8 else to_uint8(images)
  digest = lambda a: hashlib.sha256(np.ascontiguousarray(a).tobytes()).digest()[:4]
  return np.array([int.from_bytes(digest(a), "little") & 0x7FFFFFFF for a in pixels], np.int64)


def to_8bit(image: Image.Image, mode: str = "RGB") -> Image.Image:
  """Any image Pillow opens as 8-bit `mode` ('RGB', 'RGBA' or 'L') with its intensities kept.

  The EXIF orientation is applied (a phone photo comes out upright); 16- and 32-bit
  integer images are scaled from their full range (Pillow's own conversion would clip
  them at 255); float images are taken as [0, 1]; palette, CMYK, YCbCr and the like go
  through Pillow's conversion; an alpha channel is dropped but for 'RGBA' (opaque where the
  file has none).
  """
  image = ImageOps.exif_transpose(image)
  if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
    values = np.asarray(image, np.float64)
    if image.mode == "F":
      scale = 1.0
    elif image.mode.startswith("I;16") or values.max(initial=0) <= 65535:
      scale = 65535.0
    else:
      scale = 2.0**32 - 1
    image = Image.fromarray(np.clip(np.round(values / scale * 255.0), 0, 255).astype(np.uint8))
  return image if image.mode == mode else image.convert(mode)


def read_image(source: str | bytes, mode: str = "RGB", name: str | None = None) -> np.ndarray:
  """An image as uint8 [H, W, 3] ('RGB'), [H, W, 4] ('RGBA': alpha 255 where the file has
  none) or [H, W] ('L'), via `to_8bit`. source: a file's path, or its contents (bytes,
  e.g. an upload; `name` then names it in messages).

  Raises FileNotFoundError if there is no such file, ValueError if it is not an image.
  """
  if isinstance(source, (bytes, bytearray)):
    name, opened = name or "the uploaded file", io.BytesIO(source)
  else:
    if not os.path.isfile(source):
      raise FileNotFoundError(f"image file does not exist: {source}")
    name, opened = source, source
  try:
    with Image.open(opened) as im:
      return np.asarray(to_8bit(im, mode))
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f"{name} is not a readable image ({type(e).__name__}: {e})") from e


def frame_count(source: str | bytes) -> int:
  """How many frames an image file (path or contents) holds: 1 but for animations."""
  with Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source) as im:
    return getattr(im, "n_frames", 1)


HOLE_GREY = 0.0  # missing pixels are shown mid-grey (0 in [-1, 1])


def masked_input(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
  """What a method sees, for pictures: [B, S, S, 3] with the missing pixels painted grey."""
  return np.where(np.asarray(masks)[..., None] > 0, images, HOLE_GREY)


def atomic_write_files(files: dict[str, bytes]) -> None:
  """Writes every `path: data` of `files` or none of them: each goes to a temporary file in
  its folder first, and only when all are on disk are they renamed into place. A failed
  write (a full disk, a size limit) removes the temporary files and raises the OSError."""
  umask = os.umask(0)
  os.umask(umask)
  temps = []
  try:
    for path, data in files.items():
      folder = os.path.dirname(os.path.abspath(path))
      os.makedirs(folder, exist_ok=True)
      fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=folder)
      temps.append((tmp, path))
      with os.fdopen(fd, "wb") as f:
        f.write(data)
      os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a normal file's mode is wanted
    for tmp, path in temps:
      os.replace(tmp, path)
  except BaseException:
    for tmp, _ in temps:
      if os.path.exists(tmp):
        os.unlink(tmp)
    raise


def atomic_write_bytes(path: str, data: bytes) -> None:
  """Writes `data` to `path` via a temporary file in the same folder and a rename."""
  atomic_write_files({path: data})


WRITABLE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def encode_image(path: str, image: np.ndarray) -> bytes:
  """uint8 [H, W, 3] or [H, W] as PNG or JPEG (quality 95) bytes, by `path`'s extension;
  raises ValueError for any other extension."""
  ext = os.path.splitext(path)[1].lower()
  if ext not in WRITABLE_EXTENSIONS:
    raise ValueError(f"cannot write {path}: the extension must be one of {WRITABLE_EXTENSIONS}")
  buf = io.BytesIO()
  picture = Image.fromarray(np.asarray(image, np.uint8))
  if ext == ".png":
    picture.save(buf, format="PNG")
  else:
    picture.save(buf, format="JPEG", quality=95)
  return buf.getvalue()


def save_image(path: str, image: np.ndarray) -> None:
  """Saves uint8 [H, W, 3] or [H, W] atomically as `encode_image` encodes it."""
  atomic_write_bytes(path, encode_image(path, image))


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
