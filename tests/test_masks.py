import jax
import numpy as np
from PIL import Image
import pytest

from inpaint_jax.core import losses
from inpaint_jax.data import images as images_lib
from inpaint_jax.data import masks


def _weights_by_loop(mask, window):
  h, w = mask.shape
  r = window // 2
  out = np.zeros_like(mask, dtype=np.float64)
  for i in range(h):
    for j in range(w):
      if mask[i, j] == 0:
        continue
      missing = count = 0
      for di in range(-r, r + 1):
        for dj in range(-r, r + 1):
          y, x = i + di, j + dj
          if 0 <= y < h and 0 <= x < w:
            count += 1
            missing += 1 - mask[y, x]
      out[i, j] = missing / count
  return out


@pytest.mark.parametrize("seed,window", [(0, 7), (1, 7), (2, 3), (3, 5)])
def test_importance_weights_match_a_pixel_loop(seed, window):
  rng = np.random.default_rng(seed)
  mask = (rng.random((12, 16)) > 0.4).astype(np.float32)
  got = np.asarray(losses.importance_weights(mask, window))
  np.testing.assert_allclose(got, _weights_by_loop(mask, window), atol=1e-6)


@pytest.mark.parametrize("window", [2, 4, 7, 8])
def test_importance_weights_count_the_window_as_xla_s_same_padding_does(window):
  # Even windows pad unevenly; the reference counts with XLA's own reduce_window of ones.
  import jax  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(window)
  mask = (rng.random((10, 13)) > 0.5).astype(np.float32)
  box = lambda a: np.asarray(jax.lax.reduce_window(a, 0.0, jax.lax.add, (window, window),
                                                   (1, 1), "SAME"))
  want = np.where(mask > 0, box(1 - mask) / box(np.ones_like(mask)), 0)
  got = np.asarray(jax.vmap(lambda m: losses.importance_weights(m, window))(mask[None]))[0]
  np.testing.assert_allclose(got, want, atol=1e-7)


def test_importance_weights_hand_case():
  mask = np.ones((9, 9), np.float32)
  mask[4, 4] = 0
  w = np.asarray(losses.importance_weights(mask, 7))
  assert w[4, 4] == 0  # a missing pixel weighs nothing
  np.testing.assert_allclose(w[4, 5], 1 / 49)  # interior: one missing in a full 7x7 window
  # (1,1): its window spans rows and columns -2..4, of which 0..4 exist: 25 pixels.
  np.testing.assert_allclose(w[1, 1], 1 / 25)


@pytest.mark.parametrize("kind,band", [("center", (0.25, 0.25)), ("pattern", (0.20, 0.30)),
                                       ("random", (0.76, 0.84)), ("half", (0.5, 0.5))])
def test_missing_fraction_per_type_over_100_seeds(kind, band):
  m = masks.make_masks(kind, 64, seed=0, ids=range(100))
  missing = 1.0 - m.mean(axis=(1, 2))
  assert m.shape == (100, 64, 64) and set(np.unique(m)) <= {0.0, 1.0}
  assert band[0] - 1e-9 <= missing.min() and missing.max() <= band[1] + 1e-9
  if kind == "pattern":
    assert 0.22 <= missing.mean() <= 0.28  # ~25% on average
  if kind == "random":
    # The same pixel is missing in all channels: masks are [H, W], and pixels independent.
    assert abs(missing.mean() - 0.8) < 0.005


def test_masks_are_reproducible_and_vary_with_the_seed():
  for kind in ("pattern", "random", "half"):
    a = masks.make_masks(kind, 32, 7, range(10))
    np.testing.assert_array_equal(a, masks.make_masks(kind, 32, 7, range(10)))
    assert len({m.tobytes() for m in a}) > 1
  halves = masks.make_masks("half", 8, 0, range(40))
  assert len({m.tobytes() for m in halves}) == 4  # left, right, top, bottom
  c = masks.make_mask("center", 64, 0)
  assert (c[16:48, 16:48] == 0).all() and c.sum() == 64 * 64 - 32 * 32


def test_device_masks_have_the_host_masks_distributions():
  kinds = tuple(masks.MASK_TYPES[j % 4] for j in range(400))
  m = np.asarray(jax.jit(lambda k: masks.draw_batch(kinds, 32, k))(masks.training_key(3, 5)))
  assert m.shape == (400, 32, 32) and set(np.unique(m)) <= {0.0, 1.0}
  by_kind = {kind: m[j::4] for j, kind in enumerate(masks.MASK_TYPES)}
  assert (by_kind["center"] == masks.center(32)).all()
  halves = {masks.make_mask("half", 32, s).tobytes() for s in range(40)}
  assert {h.tobytes() for h in by_kind["half"]} == halves  # each side, and nothing else
  missing = 1.0 - by_kind["random"].mean(axis=(1, 2))
  assert abs(missing.mean() - 0.8) < 0.01  # 100 x 1024 pixels: SE 0.0013
  # Pixels drawn independently: two in a row agree with probability 0.2^2 + 0.8^2 = 0.68.
  rows = by_kind["random"]
  assert abs((rows[:, :, :, None] == rows[:, :, None, :]).mean() - 0.68) < 0.02
  missing = 1.0 - by_kind["pattern"].mean(axis=(1, 2))
  assert 0.22 <= missing.mean() <= 0.28 and len({p.tobytes() for p in by_kind["pattern"]}) == 100
  # A field without a crop in the band gives the nearest crop: ~1 in 800 fields.
  assert ((missing >= 0.2 - 1e-9) & (missing <= 0.3 + 1e-9)).mean() >= 0.97


def test_device_pattern_mask_is_a_crop_of_pil_s_bicubic_field():
  size, big, cells = 16, 64, 4
  for seed in range(6):
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 1)
    got = np.asarray(masks.draw("pattern", size, key))
    noise = np.asarray(jax.random.uniform(jax.random.split(key)[0], (cells, cells)))
    field = np.asarray(Image.fromarray(noise, mode="F").resize((big, big),
                                                               Image.Resampling.BICUBIC))
    known = (field >= masks.PATTERN_THRESHOLD).astype(np.float32)
    crops = {known[y:y + size, x:x + size].tobytes()
             for y in range(big - size + 1) for x in range(big - size + 1)}
    assert got.tobytes() in crops, seed


def test_device_batch_is_each_mask_from_its_own_key_and_reproducible():
  kinds = ("half", "pattern", "random", "pattern", "center")
  key = masks.training_key(11, 7)
  batch = np.asarray(masks.draw_batch(kinds, 16, key))
  for j, kind in enumerate(kinds):
    np.testing.assert_array_equal(batch[j], masks.draw(kind, 16, jax.random.fold_in(key, j)))
  np.testing.assert_array_equal(batch, masks.draw_batch(kinds, 16, masks.training_key(11, 7)))
  assert not np.array_equal(batch, masks.draw_batch(kinds, 16, masks.training_key(11, 8)))
  with pytest.raises(ValueError, match="unknown mask type 'square'"):
    masks.draw("square", 16, key)


def test_from_png_rule(tmp_path):
  arr = np.zeros((16, 16), np.uint8)
  arr[:, 8:] = 128  # mid-grey and lighter is known, darker is missing
  arr[:, 4] = 127
  arr[0, 0] = 255
  Image.fromarray(arr).save(tmp_path / "m.png")
  m = masks.from_png(str(tmp_path / "m.png"), 16)
  assert m[0, 0] == 1 and m[5, 5] == 0 and (m[:, 8:] == 1).all() and (m[:, 4] == 0).all()
  rgb = np.zeros((16, 16, 3), np.uint8)
  rgb[4:, :, 1] = 255  # pure green: grey level 150 (ITU-R 601), known
  rgb[:2, :, 2] = 255  # pure blue: grey level 29, missing
  Image.fromarray(rgb).save(tmp_path / "rgb.png")
  assert masks.from_png(str(tmp_path / "rgb.png")).sum() == 12 * 16
  with pytest.raises(ValueError, match=r"m.png is 16x16, expected 64x64"):
    masks.from_png(str(tmp_path / "m.png"), 64)
  with pytest.raises(FileNotFoundError, match="nope.png"):
    masks.from_png(str(tmp_path / "nope.png"))
  (tmp_path / "bad.png").write_bytes(b"not a png")
  with pytest.raises(ValueError, match="bad.png is not a readable image"):
    masks.from_png(str(tmp_path / "bad.png"))


def test_unknown_type():
  with pytest.raises(ValueError, match="unknown mask type 'square'"):
    masks.make_mask("square", 64, 0)


def test_pixel_hash_is_a_function_of_the_8_bit_pixels_only():
  pixels = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
  ids = images_lib.pixel_hashes(pixels)
  np.testing.assert_array_equal(ids, images_lib.pixel_hashes(images_lib.to_float(pixels)))
  np.testing.assert_array_equal(ids[::-1], images_lib.pixel_hashes(pixels[::-1]))
  changed = pixels.copy()
  changed[1, 4, 4, 0] ^= 1
  assert images_lib.pixel_hashes(changed)[1] != ids[1] and (ids >= 0).all() and (ids < 2**31).all()


def test_mask_type_lists_are_checked_before_any_work():
  from inpaint_jax.configs import presets  # pylint: disable=import-outside-toplevel
  kinds = presets.names(("center,half", " random"))  # as --config.mask_types=center,half gives
  assert kinds == ("center", "half", "random")
  masks.check_types(kinds)
  with pytest.raises(ValueError, match=r"--config.mask_types: unknown mask type\(s\) \['box'\]"):
    masks.check_types(presets.names("center,box"), "--config.mask_types")
  with pytest.raises(ValueError, match="none given"):
    masks.check_types(presets.names(","))
