"""A photo on its way to the model and back (`data/photos.py`): framing, the notes the CLI
prints about it, and the mask shrunk and grown with it. The whole path, file to file, runs
through the CLI in test_cli.py."""

import numpy as np
import pytest
from PIL import Image

from inpaint_jax import model_files
from inpaint_jax.configs import presets
from inpaint_jax.configs import tiny
from inpaint_jax.data import photos as photos_lib
from inpaint_jax.data import sources
from inpaint_jax.configs import search as search_config


def test_size_note_says_what_happened_and_warns_when_a_photo_is_enlarged():
  square, stretch = sources.CropRule("center", 1.0, 64), sources.CropRule("none", 1.0, 64)
  assert photos_lib.size_note(64, 64, square) == ""
  assert photos_lib.size_note(109, 89, square) == " (centre-cropped 89px square, resized to 64x64)"
  small = photos_lib.size_note(5, 3, square)
  assert small.startswith(" (centre-cropped 3px square, resized to 64x64)")
  assert "the 3px square is smaller than the model's 64x64" in small and "blurred" in small
  assert "warning" in photos_lib.size_note(40, 200, square)
  assert "warning" not in photos_lib.size_note(64, 200, square)
  assert photos_lib.size_note(109, 89, stretch) == " (resized from 89x109 to 64x64, aspect ratio not kept)"
  assert photos_lib.size_note(100, 100, stretch) == " (resized from 100x100 to 64x64)"
  assert "the photo is 200x40, smaller than the model's" in photos_lib.size_note(40, 200, stretch)
  celeba = sources.CropRule("center", 108 / 178, 64)
  assert photos_lib.size_note(218, 178, celeba) == (" (centre-cropped 108px square (61% of the shorter "
                                             "side), resized to 64x64)")
  assert "warning: the 54px square is smaller" in photos_lib.size_note(109, 89, celeba)


def test_auto_framing_follows_how_the_model_was_trained():
  faces, cars = (model_files.load_params(presets.bundled_model_path(name))[0]
                 for name in ("celeba", "cars"))
  assert photos_lib.framing("auto", faces, 218, 178) == sources.CropRule("center", 108 / 178, 64)
  assert photos_lib.framing("auto", cars, 61, 128) == sources.CropRule("none", 1.0, 64)
  assert photos_lib.framing("auto", faces, 64, 64) == sources.CropRule("none", 1.0, 64)  # as it is
  tiny_config = tiny.get_config()  # a folder config without a crop rule: whole images
  assert photos_lib.framing("auto", tiny_config, 50, 70) == sources.CropRule("none", 1.0, 32)
  tiny_config.dataset.crop = None  # the TFDS builder's default framing
  tiny_config.dataset.source, tiny_config.dataset.name = "tfds", "cars196"  # boxes
  assert photos_lib.framing("auto", tiny_config, 50, 70) == sources.CropRule("none", 1.0, 32)
  tiny_config.dataset.name = "celeb_a"  # TFDS CelebA: the builder's default crop
  assert photos_lib.framing("auto", tiny_config, 50, 70) == sources.CropRule("center", 108 / 178, 32)
  assert photos_lib.framing("square", cars, 61, 128) == sources.CropRule("center", 1.0, 64)
  assert photos_lib.framing("stretch", faces, 218, 178) == sources.CropRule("none", 1.0, 64)


def _photo(tmp_path, h, w, rule_crop, config):
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(tmp_path / "p.png")
  return photos_lib.read_photo(str(tmp_path / "p.png"), rule_crop, config)


def test_a_model_pixel_is_missing_where_any_photo_pixel_under_it_is(tmp_path):
  config = tiny.get_config()  # 32x32 model
  photo = _photo(tmp_path, 96, 160, "square", config)  # box: x 32..128, 3 photo px per model px
  assert photo.box == (32, 0, 128, 96)
  full = np.ones((96, 160), np.float32)
  rng = np.random.default_rng(1)
  for y, x in rng.integers(0, 96, (12, 2)):  # single missing pixels anywhere in the box
    full[y, 32 + x] = 0.0
  want = np.ones((32, 32), np.float32)  # the loop reference: any missing pixel per 3x3 block
  for i in range(32):
    for j in range(32):
      if (full[3 * i:3 * i + 3, 32 + 3 * j:32 + 3 * j + 3] == 0).any():
        want[i, j] = 0.0
  np.testing.assert_array_equal(photos_lib.shrink_mask(photo, full, 32), want)
  # Grown back, the model mask covers each block it marks, and nothing outside the box.
  grown = photos_lib.grow_mask(photo, want)
  np.testing.assert_array_equal(grown[:, 32:128], np.kron(want, np.ones((3, 3))))
  assert grown[:, :32].all() and grown[:, 128:].all() and (grown[full == 0] == 0).all()


def test_paste_back_changes_only_the_missing_pixels(tmp_path):
  config = tiny.get_config()
  photo = _photo(tmp_path, 50, 70, "stretch", config)
  full = np.ones((50, 70), np.float32)
  full[10:20, 5:40] = 0.0
  filled = np.full((32, 32, 3), -1.0, np.float32)  # black everywhere
  out = photos_lib.paste_back(photo, filled, full)
  assert out.shape == (50, 70, 3) and (out[full == 0] == 0).all()
  np.testing.assert_array_equal(out[full == 1], photo.original[full == 1])


def test_a_photo_and_a_mask_read_from_their_bytes_equal_the_files(tmp_path):
  config = tiny.get_config()
  photo_file = _photo(tmp_path, 50, 70, "auto", config)
  mask = np.full((50, 70), 255, np.uint8)
  mask[10:30, 20:40] = 0
  Image.fromarray(mask).save(tmp_path / "m.png")
  read = lambda name: (tmp_path / name).read_bytes()
  photo_bytes = photos_lib.read_photo(read("p.png"), "auto", config, name="upload.png")
  assert photo_bytes.path == "upload.png"
  np.testing.assert_array_equal(photo_bytes.model_input, photo_file.model_input)
  assert photo_bytes.box == photo_file.box and photo_bytes.frames == 1
  from_file = photos_lib.photo_mask(photo_file, 32, str(tmp_path / "m.png"), None, 0)
  from_bytes = photos_lib.photo_mask(photo_bytes, 32, read("m.png"), None, 0, mask_name="up")
  for a, b in zip(from_file, from_bytes):
    np.testing.assert_array_equal(a, b)
  Image.fromarray(mask[:40]).save(tmp_path / "short.png")
  with pytest.raises(ValueError, match="mask up is 70x40 but image upload.png is 70x50"):
    photos_lib.photo_mask(photo_bytes, 32, read("short.png"), None, 0, mask_name="up")
  with pytest.raises(ValueError, match="upload.png is not a readable image"):
    photos_lib.read_photo(b"not an image", "auto", config, name="upload.png")


def test_folder_presets_split_train_test_and_validation_and_the_shipped_models_carry_them():
  """../shared/data/README.md: test 008001-008800 / 06645-07444, validation the last 200."""
  span = lambda split: tuple(int(v) for v in split.split(":")[1:])
  for name, sizes in (("celeba", (8000, 800, 200)), ("cars", (6644, 800, 200))):
    preset = presets.DATASETS[name]
    ranges = [span(preset[k]) for k in ("train_split", "test_split", "validation_split")]
    assert [b - a + 1 for a, b in ranges] == list(sizes)
    assert ranges[0][1] < ranges[1][0] and ranges[1][1] < ranges[2][0]  # disjoint, in order
    config, _ = model_files.load_params(presets.bundled_model_path(name), search_config.get_config("fast"))
    assert (config.dataset.test_split, config.dataset.validation_split) == (
        preset["test_split"], preset["validation_split"])
