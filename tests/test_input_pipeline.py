import os

from absl import logging
import ml_collections
import numpy as np
from PIL import Image
from PIL import ImageDraw
import pytest

from conftest import write_images
from inpaint_jax.data import images as images_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.data import sources as ip


def test_center_crop_fraction_frames_half_and_full_size_alike(tmp_path):
  # A full-size and a half-size version of the same picture give nearly the same 64x64 crop.
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[0:218, 0:178]
  full = np.stack([xx, yy, (xx + yy) // 2], -1).astype(np.uint8) + rng.integers(0, 3, (218, 178, 3)).astype(np.uint8)
  half = np.asarray(Image.fromarray(full).resize((89, 109), Image.Resampling.BICUBIC))
  rule = ip.CropRule("center", 108 / 178, 64)
  a = ip.preprocess(Image.fromarray(full), rule).astype(float)
  b = ip.preprocess(Image.fromarray(half), rule).astype(float)
  assert a.shape == b.shape == (64, 64, 3)
  assert np.abs(a - b).mean() < 4.0
  # The crop is the central 108x108 square: its top-left pixel is (x=35, y=55) of the original.
  assert abs(a[0, 0, 0] - 35) <= 2 and abs(a[0, 0, 1] - 55) <= 2


def test_bbox_crop():
  img = np.zeros((100, 200, 3), np.uint8)
  img[20:60, 50:150] = 200
  out = ip.preprocess(img, ip.CropRule("bbox", 1.0, 32), bbox=(0.2, 0.25, 0.6, 0.75))
  assert out.shape == (32, 32, 3)
  assert out.min() >= 190  # nothing outside the box


def test_folder_source_split_range_list_and_conversion(tmp_path):
  folder = str(tmp_path / "imgs")
  write_images(folder, 10)
  write_images(folder + "_g", 1, mode="L", fmt="png")
  Image.open(os.path.join(folder + "_g", "000001.png")).save(os.path.join(folder, "000011.png"))
  Image.new("RGBA", (20, 30), (10, 20, 30, 0)).save(os.path.join(folder, "000012.png"))
  rule = ip.CropRule("none", 1.0, 16)
  src = ip.FolderSource(folder, "range:000003:000011", rule)
  assert src.ids() == [f"{i:06d}.jpg" for i in range(3, 11)] + ["000011.png"]
  assert src[len(src) - 1].shape == (16, 16, 3)
  rgba = ip.FolderSource(folder, "range:000012:000012", rule)[0]
  np.testing.assert_array_equal(rgba[0, 0], [10, 20, 30])
  with open(tmp_path / "split.txt", "w") as f:
    f.write("000002.jpg\n# a comment\n000005.jpg\n")
  listed = ip.FolderSource(folder, f"list:{tmp_path / 'split.txt'}", rule, in_memory=False)
  assert listed.ids() == ["000002.jpg", "000005.jpg"]
  np.testing.assert_array_equal(listed[1], src[2])


def test_folder_errors_name_the_path(tmp_path):
  rule = ip.CropRule("none", 1.0, 16)
  with pytest.raises(FileNotFoundError, match="nowhere"):
    ip.FolderSource(str(tmp_path / "nowhere"), "all", rule)
  folder = str(tmp_path / "imgs")
  write_images(folder, 3)
  with pytest.raises(ValueError, match=r"range:9:9.*holds no files: its 3 files run from "
                     r"'000001.jpg' to '000003.jpg'; the split 'all' takes every one"):
    ip.FolderSource(folder, "range:9:9", rule)
  with pytest.raises(ValueError, match="unknown split"):
    ip.FolderSource(folder, "first-half", rule)


def test_bad_files_are_skipped_with_a_counting_warning(tmp_path, monkeypatch):
  folder = str(tmp_path / "imgs")
  write_images(folder, 4)
  with open(os.path.join(folder, "notes.txt"), "w") as f:
    f.write("not an image")
  with open(os.path.join(folder, "broken.jpg"), "wb") as f:
    f.write(b"\xff\xd8\xff garbage")
  warnings = []
  monkeypatch.setattr(logging, "warning", lambda msg, *args: warnings.append(msg % args))
  for in_memory in (True, False):
    warnings.clear()
    src = ip.FolderSource(folder, "all", ip.CropRule("none", 1.0, 8), in_memory=in_memory)
    assert len(src) == 4
    assert sorted(src.skipped) == ["broken.jpg", "notes.txt"]
    assert len(warnings) == 1 and "skipped 2" in warnings[0]
    assert "broken.jpg" in warnings[0] and "notes.txt" in warnings[0]


def test_training_batches_are_a_function_of_seed_and_step(image_folder):
  src = ip.FolderSource(image_folder, "all", ip.CropRule("none", 1.0, 16))
  a = dict(ip.training_batches(src, 8, seed=3, start_step=0, num_steps=6))
  b = dict(ip.training_batches(src, 8, seed=3, start_step=4, num_steps=6))
  assert sorted(a) == list(range(6)) and sorted(b) == [4, 5]
  np.testing.assert_array_equal(a[4], b[4])
  np.testing.assert_array_equal(a[5], b[5])
  assert a[0].shape == (8, 16, 16, 3) and a[0].dtype == np.float32
  assert -1.0 <= a[0].min() and a[0].max() <= 1.0
  # 24 images, batch 8: each epoch (3 steps) visits every image exactly once.
  epoch = np.concatenate([ip.batch_indices(24, 8, 3, s) for s in range(3)])
  assert sorted(epoch) == list(range(24))
  assert not np.array_equal(ip.batch_indices(24, 8, 3, 0), ip.batch_indices(24, 8, 3, 3))


def test_an_array_of_images_is_a_source_too():
  images = np.arange(5 * 4 * 4 * 3, dtype=np.uint8).reshape(5, 4, 4, 3)
  np.testing.assert_array_equal(ip.take(images, [3, 0]), images[[3, 0]])
  batch = ip.training_batch(images, 2, seed=0, step=0, flip=False)
  assert batch.shape == (2, 4, 4, 3)
  expected = images[ip.batch_indices(5, 2, 0, 0)].astype(np.float32) / 127.5 - 1.0
  np.testing.assert_allclose(batch, expected, atol=1e-6)


def test_flips_are_horizontal(image_folder):
  src = ip.FolderSource(image_folder, "all", ip.CropRule("none", 1.0, 16))
  flipped = ip.training_batch(src, 8, seed=0, step=0, flip=True)
  plain = ip.training_batch(src, 8, seed=0, step=0, flip=False)
  same = [np.array_equal(f, p) for f, p in zip(flipped, plain)]
  mirrored = [np.array_equal(f, p[:, ::-1]) for f, p in zip(flipped, plain)]
  assert all(s or m for s, m in zip(same, mirrored))
  assert any(mirrored) and any(same)


@pytest.mark.parametrize("name,shape", [("celeb_a", (218, 178, 3)), ("svhn_cropped", (32, 32, 3)),
                                        ("cars196", None)])
def test_tfds_sources_with_mock_data(name, shape):
  tfds = pytest.importorskip("tensorflow_datasets")
  pytest.importorskip("tensorflow")
  config = ml_collections.ConfigDict(dict(source="tfds", name=name, data_dir=None, download=False,
                                          crop=None, crop_fraction=None))
  with tfds.testing.mock_data(num_examples=6):
    src = ip.make_source(config, "train", 64)
    assert len(src) == 6
    batch = ip.training_batch(src, 4, seed=0, step=0)
  assert batch.shape == (4, 64, 64, 3)
  assert -1.0 <= batch.min() and batch.max() <= 1.0
  assert batch.std() > 0.05  # real pixels, not a constant fill
  assert src.rule.kind == ip.TFDS_CROPS[name][0]


def test_eval_batches_cover_the_split_in_order(image_folder):
  src = ip.FolderSource(image_folder, "all", ip.CropRule("none", 1.0, 8))
  seen = [idx for idx, _ in ip.eval_batches(src, 5, start=2, stop=13)]
  assert np.concatenate(seen).tolist() == list(range(2, 13))


@pytest.mark.parametrize("mode", ["I;16", "P", "CMYK", "LA", "L", "RGBA", "F"])
def test_every_image_mode_is_read_with_its_intensities(tmp_path, mode):
  ramp = np.tile(np.linspace(0, 1, 16), (16, 1))  # a grey ramp from black to white
  want = np.round(ramp * 255)
  if mode == "I;16":
    image = Image.fromarray(np.round(ramp * 65535).astype(np.uint16))
  elif mode == "F":
    image = Image.fromarray(ramp.astype(np.float32), mode="F")
  else:
    image = Image.fromarray(want.astype(np.uint8)).convert(mode)
  path = str(tmp_path / ("x.tiff" if mode in ("CMYK", "F") else "x.png"))
  image.save(path)
  got = images_lib.read_image(path).astype(float)
  assert got.shape == (16, 16, 3)
  np.testing.assert_allclose(got, np.repeat(want[..., None], 3, -1), atol=2)


def test_the_exif_orientation_is_applied(tmp_path):
  pixels = np.zeros((10, 20, 3), np.uint8)
  pixels[:, :5] = 255  # a white band on the left of a landscape picture
  image = Image.fromarray(pixels)
  exif = image.getexif()
  exif[0x0112] = 6  # "rotate 90 clockwise to display"
  path = str(tmp_path / "phone.jpg")
  image.save(path, exif=exif, quality=95)
  shown = images_lib.read_image(path)
  assert shown.shape == (20, 10, 3)  # upright: portrait
  assert shown[:5].mean() > 200 and shown[-5:].mean() < 50  # the band is now on top


def test_in_between_mask_pixels_split_at_mid_grey_with_a_warning(tmp_path, monkeypatch):
  mask = np.full((8, 8), 255, np.uint8)
  mask[2:6, 2:6] = 0
  mask[1, 2:6] = [30, 100, 160, 250]  # an anti-aliased edge
  Image.fromarray(mask).save(tmp_path / "m.png")
  warnings = []
  monkeypatch.setattr(masks_lib.logging, "warning", lambda msg, *a: warnings.append(msg % a))
  m = masks_lib.from_png(str(tmp_path / "m.png"))
  assert m[1].tolist() == [1, 1, 0, 0, 1, 1, 1, 1] and m[3, 3] == 0.0 and m.sum() == 64 - 18
  assert len(warnings) == 1 and "4 pixel(s) are neither black nor white" in warnings[0]
  assert "the 2 below mid-grey" in warnings[0]


def test_a_jpeg_saved_mask_reads_as_the_mask_that_was_drawn(tmp_path):
  drawn = Image.new("L", (96, 64), 255)
  ImageDraw.Draw(drawn).ellipse((20, 10, 70, 50), fill=0)
  want = (np.asarray(drawn) > 0).astype(np.float32)
  for quality in (95, 50):
    drawn.convert("RGB").save(tmp_path / "m.jpg", quality=quality)
    compressed = np.asarray(Image.open(tmp_path / "m.jpg").convert("L"))
    assert ((compressed > 0) & (want == 0)).sum() > 100  # the noise a 'black only' rule misses
    np.testing.assert_array_equal(masks_lib.from_png(str(tmp_path / "m.jpg")), want)


def test_a_mask_with_transparent_pixels_marks_the_hole_by_transparency(tmp_path, monkeypatch):
  rgba = np.zeros((8, 8, 4), np.uint8)  # black everywhere: by colour, all would be missing
  rgba[..., 3] = 255
  rgba[2:6, 3:7, 3] = 0  # the hole, fully transparent
  rgba[1, 3:7, 3] = 200  # a soft edge, mostly opaque: known, with a warning
  rgba[6, 3:7, 3] = 60  # mostly transparent: missing
  Image.fromarray(rgba).save(tmp_path / "rgba.png")
  warnings = []
  monkeypatch.setattr(masks_lib.logging, "warning", lambda msg, *a: warnings.append(msg % a))
  m = masks_lib.from_png(str(tmp_path / "rgba.png"))
  want = np.ones((8, 8), np.float32)
  want[2:7, 3:7] = 0
  np.testing.assert_array_equal(m, want)
  assert len(warnings) == 1 and "8 pixel(s) are neither fully transparent" in warnings[0]
  # Grey + alpha, and a palette image with a transparent index, follow the same rule.
  la = Image.fromarray(np.full((8, 8), 255, np.uint8)).convert("LA")
  la.putalpha(Image.fromarray((want * 255).astype(np.uint8)))
  la.save(tmp_path / "la.png")
  np.testing.assert_array_equal(masks_lib.from_png(str(tmp_path / "la.png")), want)
  pal = Image.fromarray((1 - want).astype(np.uint8), mode="L").convert("P")
  pal.info["transparency"] = 1
  pal.save(tmp_path / "p.png", transparency=1)
  np.testing.assert_array_equal(masks_lib.from_png(str(tmp_path / "p.png")), want)
  # An opaque alpha channel changes nothing: black is the hole.
  rgba[..., 3] = 255
  rgba[..., :3] = 255
  rgba[0, 0, :3] = 0
  Image.fromarray(rgba).save(tmp_path / "opaque.png")
  assert masks_lib.from_png(str(tmp_path / "opaque.png")).sum() == 63


def test_tfds_cache_holds_the_decoded_examples_and_is_reused_or_rebuilt(tmp_path, monkeypatch):
  tfds = pytest.importorskip("tensorflow_datasets")
  pytest.importorskip("tensorflow")
  rule = ip.CropRule("center", 108 / 178, 16)
  with tfds.testing.mock_data(num_examples=10):
    lazy = ip.TfdsSource("celeb_a", "train", rule, download=False)
    cached = ip.TfdsSource("celeb_a", "train", rule, download=False, in_memory=True,
                           cache_dir=str(tmp_path), num_threads=3)
    (path,) = tmp_path.iterdir()
    for i in range(10):
      np.testing.assert_array_equal(cached[i], lazy[i])
    np.testing.assert_array_equal(ip.take(cached, np.array([7, 2, 7])),
                                  np.stack([lazy[7], lazy[2], lazy[7]]))
    np.testing.assert_array_equal(ip.training_batch(cached, 4, 1, 3),
                                  ip.training_batch(lazy, 4, 1, 3))

    def no_decoding(self, index):
      raise AssertionError("the cache should have been used")

    want = lazy[4]
    with monkeypatch.context() as m:
      m.setattr(ip.TfdsSource, "_decode", no_decoding)
      again = ip.TfdsSource("celeb_a", "train", rule, download=False, in_memory=True,
                            cache_dir=str(tmp_path))
      np.testing.assert_array_equal(again[4], want)
    path.write_bytes(b"not a numpy file")  # a damaged cache is rebuilt, not trusted
    rebuilt = ip.TfdsSource("celeb_a", "train", rule, download=False, in_memory=True,
                            cache_dir=str(tmp_path))
    np.testing.assert_array_equal(rebuilt[9], lazy[9])
