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
  with pytest.raises(ValueError, match=r"--config.mask_types: unknown mask type\(s\) \['square'\]"):
    masks.check_types(presets.names("center,square"), "--config.mask_types")
  with pytest.raises(ValueError, match="none given"):
    masks.check_types(presets.names(","))


# LaMa's irregular masks.


@pytest.mark.parametrize("kind,mean_band", [("thin", (0.22, 0.30)), ("medium", (0.18, 0.26)),
                                            ("thick", (0.22, 0.31)), ("box", (0.17, 0.24))])
def test_irregular_hole_areas_over_400_images(kind, mean_band):
  # Measured over 1,000 draws (host and device alike): thin 0.26, medium 0.22, thick 0.26,
  # box 0.21 mean missing, sd 0.10-0.13; the bands are +-4 standard errors of 400.
  m = masks.make_masks(kind, 64, seed=0, ids=range(400))
  missing = 1.0 - m.mean(axis=(1, 2))
  assert m.shape == (400, 64, 64) and set(np.unique(m)) <= {0.0, 1.0}
  assert (missing > 0).all() and missing.max() <= masks.LAMA_MAX_HOLE  # LaMa's max_tamper_area
  assert mean_band[0] <= missing.mean() <= mean_band[1], missing.mean()
  assert missing.std() > 0.08  # a spread of sizes, not one shape
  # Boxes are unions of axis-aligned rectangles: every hole row is a run of equal rows.
  if kind == "box":
    assert all(len({r.tobytes() for r in mask if (r == 0).any()}) <= 2 * 3 for mask in m[:50])


def test_irregular_kinds_differ_in_shape_as_lama_s_do():
  # thin: many narrow strokes (hole pixels mostly touch the known region); thick: wide ones.
  def edge_fraction(m):  # missing pixels with a known 4-neighbour, over all missing
    hole = m == 0
    pad = np.pad(m, ((0, 0), (1, 1), (1, 1)), constant_values=1) == 1
    border = hole & (pad[:, :-2, 1:-1] | pad[:, 2:, 1:-1] | pad[:, 1:-1, :-2] | pad[:, 1:-1, 2:])
    return border.sum() / hole.sum()
  thin, thick = (masks.make_masks(k, 64, 1, range(200)) for k in ("thin", "thick"))
  assert edge_fraction(thin) > 0.6 > 0.3 > edge_fraction(thick)


def _lama_reference(segments, used, boxes, box_used, size):
  """The same strokes drawn by Pillow in LaMa's 256 frame (a line of the brush width with
  round caps, as OpenCV's thick lines), then each of our pixels read at its centre."""
  from PIL import ImageDraw  # pylint: disable=import-outside-toplevel
  frame = Image.new("L", (256, 256), 0)
  draw = ImageDraw.Draw(frame)
  for (x0, y0, x1, y1, w), u in zip(segments, used):
    if u:
      draw.line([(x0, y0), (x1, y1)], fill=255, width=int(w))
      for x, y in ((x0, y0), (x1, y1)):
        draw.ellipse([x - w / 2, y - w / 2, x + w / 2, y + w / 2], fill=255)
  for (x, y, w, h), u in zip(boxes, box_used):
    if u:
      draw.rectangle([x, y, x + w - 1, y + h - 1], fill=255)
  big = np.asarray(frame) > 127
  step = 256 // size
  # Our pixel j has its centre between frame pixels step*j + step/2 - 1 and step*j + step/2.
  centre = big[step // 2::step, step // 2::step] | big[step // 2 - 1::step, step // 2 - 1::step]
  return 1.0 - centre.astype(np.float32)


@pytest.mark.parametrize("kind", masks.IRREGULAR_TYPES)
def test_irregular_rasterisation_matches_pillow_s_drawing(kind):
  rng = np.random.default_rng(3)
  agree = []
  for _ in range(20):
    parts = masks._lama_parts(masks.LAMA[kind], rng)  # pylint: disable=protected-access
    ours = np.asarray(masks._rasterise(64, *parts))  # pylint: disable=protected-access
    ref = _lama_reference(*parts, 64)
    hole = (ours == 0) | (ref == 0)
    agree.append(((ours == ref) & hole).sum() / max(hole.sum(), 1))
  # Pillow's and our edge pixels differ by rounding (measured: 91% of the union of the two
  # holes agrees for thin strokes, 94-98% for the others); a wrong frame, scale or width fails.
  assert np.mean(agree) > 0.88, agree


def test_irregular_draws_follow_lama_s_generator():
  gen = masks.LAMA["thin"]
  rng = np.random.default_rng(0)
  for _ in range(30):
    segments, used = masks._lama_strokes(gen, rng)  # pylint: disable=protected-access
    strokes = used.reshape(gen.max_times, masks.LAMA_SEGMENTS)
    n = strokes.any(1).sum()
    assert gen.min_times <= n <= gen.max_times and strokes[:n].any(1).all()
    assert not strokes[n:].any() and all(s[0] and (s[:s.sum()]).all() for s in strokes[:n])
    seg = segments.reshape(gen.max_times, masks.LAMA_SEGMENTS, 5)
    for i in range(n):
      k = strokes[i].sum()
      np.testing.assert_array_equal(seg[i, 1:k, :2], seg[i, :k - 1, 2:4])  # a chain of segments
      w = seg[i, :k, 4]
      assert ((w >= 5) & (w < 5 + gen.max_width)).all()
      length = np.hypot(*(seg[i, :k, 2:4] - seg[i, :k, :2]).T)
      assert (length < 10 + gen.max_len + 1).all()  # clipped at the frame: never longer
    assert ((segments[used, :4] >= 0) & (segments[used, :4] <= masks.LAMA_FRAME)).all()
  boxes, used = masks._lama_boxes(masks.LAMA["thick"], rng)  # pylint: disable=protected-access
  g = masks.LAMA["thick"]
  assert 1 <= used.sum() <= 3
  b = boxes[used]
  assert ((b[:, 2:] >= g.box_min_size) & (b[:, 2:] < g.box_max_size)).all()
  assert ((b[:, :2] >= g.box_margin) & (b[:, :2] + b[:, 2:] <= 256 - g.box_margin)).all()


def test_device_irregular_masks_have_the_host_masks_distributions():
  # thin (the longest chains of segments) and thick (strokes or boxes, the mixed draw): the
  # two code paths; medium and box are the same code with other numbers (compiling each
  # costs seconds).
  shown = ("thin", "thick")
  kinds = tuple(shown[j % 2] for j in range(400))
  m = np.asarray(jax.jit(lambda k: masks.draw_batch(kinds, 32, k))(masks.training_key(2, 9)))
  host = {k: masks.make_masks(k, 32, 5, range(200)) for k in shown}
  for j, kind in enumerate(shown):
    dev = 1.0 - m[j::2].mean(axis=(1, 2))
    ref = 1.0 - host[kind].mean(axis=(1, 2))
    assert abs(dev.mean() - ref.mean()) < 0.035, kind  # 200 each, sd ~0.12: SE of a difference 0.012
    assert dev.max() <= masks.LAMA_MAX_HOLE + 1e-6 and (dev > 0).mean() == 1.0, kind
    assert len({x.tobytes() for x in m[j::2]}) == 200


def test_irregular_masks_are_reproducible_per_image_and_checked_by_name():
  for kind in masks.IRREGULAR_TYPES:
    a = masks.make_masks(kind, 32, 7, [5, 9, 11])
    np.testing.assert_array_equal(a[1], masks.make_mask(kind, 32, masks.mask_seed(7, 9)))
    np.testing.assert_array_equal(a, masks.make_masks(kind, 32, 7, [5, 9, 11]))
  masks.check_types(("thin", "box", "center"))
  assert masks.MASK_TYPES == masks.PAPER_TYPES + masks.IRREGULAR_TYPES
