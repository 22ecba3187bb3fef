"""Image sources and step-indexed batches of `[B, S, S, 3]` float32 in [-1, 1].

Two kinds of source, both random-access sequences of preprocessed uint8 images:

* `FolderSource`: any JPEG/PNG files in a folder (a manual CelebA or Cars download,
  `../shared/data`), split by sorted file-name range or by a list file.
* `TfdsSource`: a TFDS builder (`celeb_a`, `svhn_cropped`, `cars196`) read through
  `tfds.data_source`, so examples are fetched by index and never materialised twice.

Training batches are a pure function of `(seed, step)`: the permutation of epoch `e`
comes from `(seed, e)` and the flips of step `s` from `(seed, s)`. A run resumed at
step `s` therefore sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import io
import os
import queue
import threading
from typing import Any, Callable, Iterator, Sequence

from absl import logging
import ml_collections
import numpy as np
from PIL import Image
from tqdm import tqdm

from inpaint_jax.data import images as images_lib

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


# ----------------------------------------------------------------------------- crops


@dataclasses.dataclass(frozen=True)
class CropRule:
  """How one dataset's images are framed before resizing to `size` x `size`.

  kind: 'none' (resize the whole image), 'center' (a centred square whose side is
  `fraction` of the image's shorter side; CelebA's 108 px of 178 is 0.6067, which frames
  half-size files identically), or 'bbox' (the example's bounding box, TFDS cars196).
  """

  kind: str = "none"
  fraction: float = 1.0
  size: int = 64

  def __post_init__(self):
    if self.kind not in ("none", "center", "bbox"):
      raise ValueError(f"crop kind must be 'none', 'center' or 'bbox', got {self.kind!r}")
    if not 0.0 < self.fraction <= 1.0:
      raise ValueError(f"crop fraction must be in (0, 1], got {self.fraction}")


def center_box(width: int, height: int, fraction: float = 1.0) -> tuple[int, int, int, int]:
  """(left, top, right, bottom) of the centred square whose side is `fraction` of the shorter side."""
  side = max(1, int(round(fraction * min(width, height))))
  left, top = (width - side) // 2, (height - side) // 2
  return left, top, left + side, top + side


def preprocess(image: Image.Image | np.ndarray, rule: CropRule,
               bbox: Sequence[float] | None = None) -> np.ndarray:
  """Crop by `rule` and resize: any PIL image or uint8 array -> uint8 [size, size, 3].

  `bbox` is TFDS's normalised (ymin, xmin, ymax, xmax), used when rule.kind == 'bbox'.
  Every Pillow mode is converted to 8-bit RGB with its intensities kept and the EXIF
  orientation applied (`images.to_8bit`).
  """
  if isinstance(image, np.ndarray):
    if image.ndim == 3 and image.shape[-1] == 1:
      image = image[..., 0]
    image = Image.fromarray(image)
  image = images_lib.to_8bit(image)
  w, h = image.size
  if rule.kind == "center":
    image = image.crop(center_box(w, h, rule.fraction))
  elif rule.kind == "bbox":
    if bbox is None:
      raise ValueError("crop kind 'bbox' needs a bounding box")
    ymin, xmin, ymax, xmax = (float(v) for v in bbox)
    box = (int(np.floor(xmin * w)), int(np.floor(ymin * h)),
           max(int(np.ceil(xmax * w)), int(np.floor(xmin * w)) + 1),
           max(int(np.ceil(ymax * h)), int(np.floor(ymin * h)) + 1))
    image = image.crop(box)
  if image.size != (rule.size, rule.size):
    image = image.resize((rule.size, rule.size), Image.Resampling.BICUBIC)
  return np.asarray(image, dtype=np.uint8)


# ----------------------------------------------------------------------------- folder


def list_split(folder: str, split: str) -> list[str]:
  """Sorted image file names of `folder` selected by `split`.

  split: 'all'; 'range:FIRST:LAST' (file stems between FIRST and LAST inclusive, compared
  as strings, e.g. 'range:000001:008000'); or 'list:PATH' (one file name per line; '#'
  starts a comment; PATH relative to `folder` if not absolute).
  """
  if not os.path.isdir(folder):
    raise FileNotFoundError(f"image folder does not exist: {folder}")
  names = sorted(n for n in os.listdir(folder)
                 if not n.startswith(".") and os.path.isfile(os.path.join(folder, n)))
  if split == "all":
    chosen = names
  elif split.startswith("range:"):
    parts = split.split(":")
    if len(parts) != 3:
      raise ValueError(f"split {split!r} must look like 'range:FIRST:LAST'")
    first, last = parts[1], parts[2]
    chosen = [n for n in names if first <= os.path.splitext(n)[0] <= last]
  elif split.startswith("list:"):
    path = split[len("list:"):]
    if not os.path.isabs(path):
      path = os.path.join(folder, path)
    if not os.path.isfile(path):
      raise FileNotFoundError(f"split list file does not exist: {path}")
    with open(path) as f:
      wanted = [line.split("#", 1)[0].strip() for line in f]
    wanted = [w for w in wanted if w]
    present = set(names)
    missing = [w for w in wanted if w not in present]
    if missing:
      raise FileNotFoundError(
          f"{len(missing)} file(s) named in {path} are not in {folder}: {missing[:5]}")
    chosen = wanted
  else:
    raise ValueError(f"unknown split {split!r}: use 'all', 'range:FIRST:LAST' or 'list:PATH'")
  if not chosen:
    held = (f"its {len(names)} files run from {names[0]!r} to {names[-1]!r}; the split 'all' "
            "takes every one (--config.dataset.train_split=all / test_split=all in training "
            "configs, --split=all in experiments)") if names else "the folder is empty"
    raise ValueError(f"split {split!r} of {folder} holds no files: {held}")
  return chosen


def _load_file(path: str, rule: CropRule) -> np.ndarray:
  with Image.open(path) as im:
    im.load()
    return preprocess(im, rule)


class FolderSource:
  """Random-access images of one split of a folder: `source[i]` -> uint8 [S, S, 3].

  Files that are not readable images are skipped, with one warning that counts and
  names them. With `in_memory=True` every image is decoded once up front and held as
  uint8 (12 KB per 64x64 image); otherwise only headers are checked and images are
  decoded when asked for.
  """

  def __init__(self, folder: str, split: str, rule: CropRule, in_memory: bool = True,
               num_threads: int = 8):
    self.folder, self.split, self.rule = folder, split, rule
    names = list_split(folder, split)
    paths = [os.path.join(folder, n) for n in names]
    check = (lambda p: _load_file(p, rule)) if in_memory else _check_header
    outputs = parallel_map(check, paths, num_threads, f"reading {os.path.basename(folder)}")
    results = [(n, o) for n, o in zip(names, outputs) if not isinstance(o, Exception)]
    bad = [(n, o) for n, o in zip(names, outputs) if isinstance(o, Exception)]
    if bad:
      listed = ", ".join(f"{n} ({type(e).__name__})" for n, e in bad[:10])
      logging.warning("skipped %d unreadable or non-image file(s) in %s: %s%s", len(bad), folder,
                      listed, " ..." if len(bad) > 10 else "")
    self.skipped = [n for n, _ in bad]
    if not results:
      raise ValueError(f"split {split!r} of {folder} holds no readable images "
                       f"({len(bad)} file(s) skipped)")
    self.names = [n for n, _ in results]
    self._images = np.stack([o for _, o in results]) if in_memory else None

  def __len__(self) -> int:
    return len(self.names)

  def __getitem__(self, index: int) -> np.ndarray:
    if self._images is not None:
      return self._images[index]
    return _load_file(os.path.join(self.folder, self.names[index]), self.rule)

  def take(self, indices: np.ndarray) -> np.ndarray:
    if self._images is not None:
      return self._images[indices]
    return np.stack([self[int(i)] for i in indices])

  def ids(self) -> list[str]:
    return list(self.names)

  def describe(self) -> str:
    return f"folder {os.path.abspath(self.folder)} split {self.split} crop {self.rule}"


def parallel_map(fn: Callable[[Any], Any], items: Sequence[Any], num_threads: int = 8,
                 desc: str = "decoding") -> list[Any]:
  """[fn(x) for x in items] on a thread pool (decoders release the GIL), in order; an
  item whose call raised gives its exception instead. A progress bar from 2,000 items."""
  with concurrent.futures.ThreadPoolExecutor(num_threads) as pool:
    return list(tqdm(pool.map(_catching(fn), items), total=len(items),
                     disable=len(items) < 2000, desc=desc, unit="img"))


def _check_header(path: str) -> None:
  with Image.open(path) as im:
    im.verify()


def _catching(fn):
  def wrapped(x):
    try:
      return fn(x)
    except Exception as e:  # pylint: disable=broad-except
      return e
  return wrapped


class ArraySource:
  """Images already in memory as a source: uint8 [N, S, S, 3] and one name per image."""

  def __init__(self, images: np.ndarray, names: Sequence[str]):
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"ArraySource wants uint8 [N, S, S, 3], got {images.dtype} {images.shape}")
    if len(names) != len(images):
      raise ValueError(f"{len(names)} names for {len(images)} images")
    self._images, self.names = images, list(names)

  def __len__(self) -> int:
    return len(self._images)

  def __getitem__(self, index: int) -> np.ndarray:
    return self._images[index]

  def take(self, indices: np.ndarray) -> np.ndarray:
    return self._images[indices]

  def ids(self) -> list[str]:
    return list(self.names)

  def describe(self) -> str:
    return f"{len(self)} images in memory"


# ----------------------------------------------------------------------------- tfds

# Per-builder framing: Yeh et al. Sec. 4.1 and the DCGAN CelebA convention.
TFDS_CROPS = {
    "celeb_a": ("center", 108 / 178),
    "svhn_cropped": ("none", 1.0),
    "cars196": ("bbox", 1.0),
}


class TfdsSource:
  """Random-access examples of a TFDS split via `tfds.data_source`.

  With `in_memory=True` every example is decoded and framed once, by parallel workers,
  into a uint8 cache file `<cache_dir>/<name>-<version>-<split>-<crop>-<size>.npy` (written
  atomically, rebuilt when it is unreadable or its shape differs) that later runs map from disk;
  batches are then one gather. Otherwise each example is decoded when asked for.
  """

  def __init__(self, name: str, split: str, rule: CropRule, data_dir: str | None = None,
               download: bool = True, in_memory: bool = False, cache_dir: str | None = None,
               num_threads: int = 8):
    import tensorflow_datasets as tfds  # heavy import: only when TFDS is used
    self.name, self.split, self.rule = name, split, rule
    self._source = tfds.data_source(
        name, split=split, data_dir=data_dir, download=download,
        builder_kwargs={"file_format": "array_record"})
    if len(self._source) == 0:
      raise ValueError(f"TFDS split {name}:{split} (data_dir={data_dir}) holds no examples")
    self._images = None
    if in_memory:
      if cache_dir is None:
        cache_dir = os.path.join(data_dir or os.path.expanduser("~/tensorflow_datasets"),
                                 "inpaint_jax_cache")
      self._images = self._cached(cache_dir, num_threads)

  def _decode(self, index: int) -> np.ndarray:
    example = self._source[int(index)]
    bbox = example.get("bbox") if self.rule.kind == "bbox" else None
    return preprocess(np.asarray(example["image"]), self.rule, bbox)

  def _cached(self, cache_dir: str, num_threads: int) -> np.ndarray:
    version = getattr(getattr(self._source, "dataset_info", None), "version", "unknown")
    split = self.split.replace("/", "_").replace(":", "_")
    path = os.path.join(cache_dir, f"{self.name}-{version}-{split}-{self.rule.kind}-"
                                   f"{self.rule.fraction:.4f}-{self.rule.size}.npy")
    want = (len(self._source), self.rule.size, self.rule.size, 3)
    if os.path.isfile(path):
      try:
        images = np.load(path, mmap_mode="r")
        if images.shape == want and images.dtype == np.uint8:
          return images
      except (ValueError, OSError):
        pass
      logging.warning("cache %s does not match %s:%s %s; rebuilding it", path, self.name,
                      self.split, want)
    outputs = parallel_map(self._decode, range(len(self._source)), num_threads,
                           f"caching {self.name}:{self.split}")
    failed = [(i, o) for i, o in enumerate(outputs) if isinstance(o, Exception)]
    if failed:
      i, e = failed[0]
      raise ValueError(f"{len(failed)} example(s) of {self.name}:{self.split} cannot be decoded; "
                       f"first: index {i} ({type(e).__name__}: {e})")
    buffer = io.BytesIO()
    np.save(buffer, np.stack(outputs))
    images_lib.atomic_write_bytes(path, buffer.getvalue())
    return np.load(path, mmap_mode="r")

  def __len__(self) -> int:
    return len(self._source)

  def __getitem__(self, index: int) -> np.ndarray:
    if self._images is not None:
      return np.asarray(self._images[index])
    return self._decode(index)

  def take(self, indices: np.ndarray) -> np.ndarray:
    if self._images is not None:
      return np.asarray(self._images[indices])
    return np.stack([self._decode(int(i)) for i in indices])

  def ids(self) -> list[str]:
    return [f"{self.name}-{self.split}-{i:06d}" for i in range(len(self))]

  def describe(self) -> str:
    return f"tfds {self.name} split {self.split} crop {self.rule}"


# ----------------------------------------------------------------------------- factory


def crop_rule(dataset_config: ml_collections.ConfigDict, image_size: int) -> CropRule:
  """How `config.dataset`'s images are framed: its `crop` and `crop_fraction`, else the
  TFDS builder's default (`TFDS_CROPS`), else the whole image."""
  tfds = dataset_config.get("source", None) == "tfds"
  default_kind, default_fraction = TFDS_CROPS.get(dataset_config.name if tfds else "", ("none", 1.0))
  return CropRule(dataset_config.get("crop", None) or default_kind,
                  dataset_config.get("crop_fraction", None) or default_fraction, image_size)


def make_source(dataset_config: ml_collections.ConfigDict, split: str, image_size: int):
  """A `FolderSource` or `TfdsSource` for `config.dataset` and one split."""
  rule = crop_rule(dataset_config, image_size)
  if dataset_config.source == "tfds":
    return TfdsSource(dataset_config.name, split, rule, dataset_config.get("data_dir", None),
                      dataset_config.get("download", True),
                      in_memory=dataset_config.get("in_memory", False),
                      cache_dir=dataset_config.get("cache_dir", None))
  if dataset_config.source == "folder":
    return FolderSource(dataset_config.folder, split, rule,
                        in_memory=dataset_config.get("in_memory", True))
  raise ValueError(f"dataset.source must be 'tfds' or 'folder', got {dataset_config.source!r}")


def take(source, indices: np.ndarray) -> np.ndarray:
  """A new uint8 [len(indices), S, S, 3] array: one gather for in-memory sources, else
  image by image."""
  if isinstance(source, np.ndarray):  # ndarray.take would gather from the flattened array
    return source[np.asarray(indices)]
  if hasattr(source, "take"):
    return source.take(np.asarray(indices))
  return np.stack([source[int(i)] for i in indices])


@functools.lru_cache(maxsize=2)
def _epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
  return np.random.default_rng([seed, epoch]).permutation(num_examples)


def batch_indices(num_examples: int, batch_size: int, seed: int, step: int) -> np.ndarray:
  """Example indices of training step `step`: epoch-wise permutations, remainder dropped."""
  steps_per_epoch = num_examples // batch_size
  if steps_per_epoch == 0:
    raise ValueError(f"batch size {batch_size} exceeds the {num_examples} examples of the split")
  epoch, offset = divmod(step, steps_per_epoch)
  perm = _epoch_permutation(num_examples, seed, epoch)
  return perm[offset * batch_size:(offset + 1) * batch_size]


def training_batch(source, batch_size: int, seed: int, step: int, flip: bool = True) -> np.ndarray:
  """The batch of step `step`: float32 [B, S, S, 3] in [-1, 1], randomly h-flipped."""
  images = take(source, batch_indices(len(source), batch_size, seed, step))
  if flip:
    flips = np.random.default_rng([seed, step, 1]).random(batch_size) < 0.5
    images[flips] = images[flips, :, ::-1]  # `take` returns a new array: safe in place
  return images_lib.to_float(images)


def training_batches(source, batch_size: int, seed: int, start_step: int, num_steps: int,
                     flip: bool = True, prefetch: int = 2,
                     transform: Callable[[int, np.ndarray], Any] | None = None
                     ) -> Iterator[tuple[int, Any]]:
  """Yields `(step, batch)` for steps [start_step, num_steps), made in a background thread.

  The batch is `training_batch(...)`, or `transform(step, that batch)` if given (e.g. a
  dict that adds the step's masks).
  """
  q: queue.Queue = queue.Queue(maxsize=prefetch)
  stop = threading.Event()

  def produce():
    try:
      for step in range(start_step, num_steps):
        if stop.is_set():
          return
        batch = training_batch(source, batch_size, seed, step, flip)
        q.put((step, batch if transform is None else transform(step, batch)))
    except Exception as e:  # pylint: disable=broad-except
      q.put(e)
    q.put(None)

  thread = threading.Thread(target=produce, daemon=True)
  thread.start()
  try:
    while (item := q.get()) is not None:
      if isinstance(item, Exception):
        raise item
      yield item
  finally:
    stop.set()
    while thread.is_alive():
      try:
        q.get_nowait()
      except queue.Empty:
        thread.join(0.05)


def eval_batches(source, batch_size: int, start: int = 0,
                 stop: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """Yields `(indices, images)` in order, the last batch possibly short; float32 in [-1, 1]."""
  stop = len(source) if stop is None else min(stop, len(source))
  for lo in range(start, stop, batch_size):
    idx = np.arange(lo, min(lo + batch_size, stop))
    yield idx, images_lib.to_float(take(source, idx))
