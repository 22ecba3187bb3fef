"""`inpaint-jax serve`'s API, through Starlette's in-process client with a tiny model: the
fills against `inpaint` called directly on the same input, every bad input, the queue."""

import base64
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
from PIL import Image
import pytest

pytest.importorskip("starlette", reason="the [serve] extra: pip install -e '.[serve]'")
from starlette.testclient import TestClient  # pylint: disable=g-import-not-at-top,wrong-import-position

from conftest import export_tiny_model  # pylint: disable=wrong-import-position
from inpaint_jax import model_files  # pylint: disable=wrong-import-position
from inpaint_jax.core import inpaint as inpaint_lib  # pylint: disable=wrong-import-position
from inpaint_jax.data import photos as photos_lib  # pylint: disable=wrong-import-position
from inpaint_jax.serve import app as serve_app  # pylint: disable=wrong-import-position
from inpaint_jax.configs import search as search_config

ITERATIONS = "4"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
  return export_tiny_model(tmp_path_factory.mktemp("model") / "tiny.msgpack")


def _client(model_file, **limits):
  inpainter = serve_app.Inpainter(serve_app.default_models(model_file),
                                  serve_app.Limits(**limits))
  return inpainter, TestClient(serve_app.create_app(inpainter))


@pytest.fixture(scope="module")
def served(model_file):
  inpainter, client = _client(model_file)
  yield inpainter, client
  inpainter.close()


def _png(array) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(np.asarray(array, np.uint8)).save(buf, format="PNG")
  return buf.getvalue()


def _photo(seed=0, h=50, w=70):
  return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _mask(h=50, w=70, box=(20, 30, 30, 40)):
  m = np.full((h, w), 255, np.uint8)
  top, left, bottom, right = box
  m[top:bottom, left:right] = 0
  return m


def _decode(data_url: str) -> np.ndarray:
  assert data_url.startswith("data:image/png;base64,")
  return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def _post(client, photo=None, mask=None, query="", **fields):
  files = {}
  if photo is not None:
    files["photo"] = ("photo.png", photo if isinstance(photo, bytes) else _png(photo))
  if mask is not None:
    files["mask"] = ("mask.png", mask if isinstance(mask, bytes) else _png(mask))
  fields.setdefault("iterations", ITERATIONS)
  return client.post("/api/inpaint" + query, files=files, data=fields)


def _direct(model_file, photo, mask, fills=1, seed=0):
  """The same fill through the library: the CLI's photo path and `inpaint`."""
  config, params = model_files.load_params(model_file, search_config.settings(
      "paper", dict(iterations=int(ITERATIONS), restarts=fills, fills=fills, mirror=False)))
  path_photo = photos_lib.read_photo(_png(photo), "auto", config)
  small, full = photos_lib.photo_mask(path_photo, config.model.image_size, _png(mask), None, seed)
  result = inpaint_lib.inpaint(path_photo.model_input[None], small[None], params, config, seed)
  return result, [photos_lib.paste_back(path_photo, result.fills[0, j], full)
                  for j in range(int(result.fill_count[0]))]


def test_info_lists_the_models_their_presets_and_the_limits(served):
  _, client = served
  info = client.get("/api/info").json()
  names = [m["name"] for m in info["models"]]
  assert names == ["custom", "faces", "cars"]  # the one given at start comes first
  custom, faces = info["models"][0], info["models"][1]
  assert custom["presets"] == ["paper"] and custom["default_preset"] == "paper"  # no encoder
  assert faces["presets"] == ["paper", "fast", "quality", "sharp"]
  assert faces["default_preset"] == "quality"
  assert info["mask_types"] == ["center", "pattern", "random", "half", "thin", "medium",
                                "thick", "box"]
  assert info["preset_mirror"] == {"paper": False, "fast": False, "quality": True,
                                   "sharp": False}
  assert info["limits"]["max_upload_bytes"] == 20 * 2**20


def test_the_page_and_its_files_are_served_and_nothing_else(served):
  _, client = served
  page = client.get("/")
  assert page.status_code == 200 and "<canvas" in page.text and "/static/app.js" in page.text
  assert "http" not in page.text.replace("http-equiv", "")  # no CDN: everything is local
  assert client.get("/static/app.js").status_code == 200
  for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/etc/passwd", "/static/nope.js"):
    response = client.get(path)
    assert response.status_code == 404, path
  assert client.get("/api/inpaint").status_code == 405


def test_a_painted_hole_is_filled_as_the_library_fills_it_and_only_there(served, model_file):
  _, client = served
  photo, mask = _photo(), _mask()
  response = _post(client, photo, mask, fills="2")
  assert response.status_code == 200, response.text
  body = response.json()
  result, pasted = _direct(model_file, photo, mask, fills=2)
  assert len(body["fills"]) == int(result.fill_count[0])
  for j, fill in enumerate(body["fills"]):
    got = _decode(fill["pasted_png"])
    assert got.shape == photo.shape  # the photo's own resolution
    np.testing.assert_array_equal(got, pasted[j])
    outside = mask > 0
    np.testing.assert_array_equal(got[outside], photo[outside])  # known pixels untouched
    assert _decode(fill["png"]).shape == (32, 32, 3)
    assert fill["total_loss"] == pytest.approx(float(result.losses["fills"][0, j]), rel=1e-5)
  assert body["losses"]["total"] == pytest.approx(float(result.losses["total"][0]), rel=1e-5)
  assert _decode(body["generated_png"]).shape == (32, 32, 3)
  assert body["settings"]["iterations"] == int(ITERATIONS) and body["settings"]["fills"] == 2
  assert body["photo"]["width"] == 70 and body["photo"]["height"] == 50


def test_a_generated_mask_and_the_progress_stream(served):
  _, client = served
  response = _post(client, _photo(1), query="?progress=1", mask_type="center", mirror="true")
  assert response.status_code == 200
  assert response.headers["content-type"].startswith("application/x-ndjson")
  events = [json.loads(line) for line in response.text.splitlines()]
  assert "queued" in events[0]
  progress = [e["progress"] for e in events if "progress" in e]
  assert progress and progress[-1] == [int(ITERATIONS), int(ITERATIONS)]
  result = events[-1]["result"]
  assert result["settings"]["mirror"] is True
  assert 20 < result["photo"]["missing_percent"] < 30  # the centre quarter


def _big_png(h, w):
  return _png(np.zeros((h, w, 3), np.uint8))


BAD = {  # name: (fields, photo, mask, status, words of the message)
    "not an image": (dict(mask_type="center"), b"GIF89a not really", None, 400, "not an image"),
    "a text file as photo": (dict(mask_type="center"), b"hello", None, 400, "not an image"),
    "no photo": (dict(mask_type="center"), None, None, 400, "'photo'"),
    "mask of another size": ({}, "photo", _mask(40, 40, (5, 5, 10, 10)), 400, "is 40x40 but"),
    "mask not an image": ({}, "photo", b"\x89PNG broken", 400, "not an image"),
    "no hole painted": ({}, "photo", np.full((50, 70), 255, np.uint8), 400, "no hole"),
    "everything painted": ({}, "photo", np.zeros((50, 70), np.uint8), 400, "whole picture"),
    "mask and mask type": (dict(mask_type="center"), "photo", _mask(), 400, "exactly one"),
    "neither mask nor type": ({}, "photo", None, 400, "exactly one"),
    "unknown mask type": (dict(mask_type="star"), "photo", None, 400, "unknown mask_type"),
    "unknown model": (dict(mask_type="center", model="../../etc"), "photo", None, 400,
                      "unknown model"),
    "unknown preset": (dict(mask_type="center", preset="best"), "photo", None, 400,
                       "unknown preset 'best'"),
    "preset needing an encoder": (dict(mask_type="center", preset="fast"), "photo", None, 400,
                                  "has none"),
    "unknown field": (dict(mask_type="center", path="/etc/passwd"), "photo", None, 400,
                      "unknown field(s) path"),
    "too many fills": (dict(mask_type="center", fills="9"), "photo", None, 400, "between 1 and 8"),
    "fills not a number": (dict(mask_type="center", fills="two"), "photo", None, 400,
                           "whole number"),
    "bad mirror": (dict(mask_type="center", mirror="maybe"), "photo", None, 400, "true or false"),
    "bad crop": (dict(mask_type="center", crop="zoom"), "photo", None, 400, "unknown crop"),
    "negative seed": (dict(mask_type="center", seed="-1"), "photo", None, 400, "seed"),
    "photo over the pixel limit": (dict(mask_type="center"), _big_png(3000, 3000), None, 413,
                                   "megapixels"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gets_a_4xx_with_one_line_and_no_search(served, case):
  inpainter, client = served
  fields, photo, mask, status, words = BAD[case]
  before = inpainter.pending()
  inpainter.limits = serve_app.Limits(max_pixels=8_000_000)
  try:
    response = _post(client, _photo() if isinstance(photo, str) else photo, mask, **fields)
  finally:
    inpainter.limits = serve_app.Limits()
  assert response.status_code == status, response.text
  message = response.json()["error"]
  assert words in message and "\n" not in message and "Traceback" not in message
  assert inpainter.pending() == before  # nothing was queued


def test_an_upload_over_the_limit_is_refused_before_it_is_read(model_file):
  inpainter, client = _client(model_file, max_upload_bytes=10_000)
  response = _post(client, _photo(h=200, w=200), mask_type="center")
  assert response.status_code == 413
  assert "the limit is" in response.json()["error"]
  chunked = client.post("/api/inpaint", content=iter([b"--x\r\n"]),
                        headers={"content-type": "multipart/form-data; boundary=x"})
  assert chunked.status_code == 411
  not_a_form = client.post("/api/inpaint", content=b"{}", headers={"content-type": "application/json"})
  assert not_a_form.status_code == 400 and "multipart/form-data" in not_a_form.json()["error"]
  inpainter.close()


def test_one_search_at_a_time_in_order_busy_past_the_queue_and_nothing_mixed(model_file,
                                                                           monkeypatch):
  inpainter, client = _client(model_file, max_waiting=1)
  gate, started = threading.Event(), threading.Event()
  run = inpainter._run  # pylint: disable=protected-access
  running = []

  def gated(job):
    running.append(job.ticket)
    assert len(running) - len(done) == 1, "two searches at once"
    started.set()
    gate.wait(60)
    out = run(job)
    done.append(job.ticket)
    return out

  done = []
  monkeypatch.setattr(inpainter, "_run", gated)
  photos = [_photo(10), _photo(11)]
  masks = [_mask(), _mask(box=(5, 5, 25, 30))]
  answers = [None, None]

  def post(i):
    answers[i] = _post(client, photos[i], masks[i], query="?progress=1")

  first = threading.Thread(target=post, args=(0,))
  first.start()
  assert started.wait(60)
  second = threading.Thread(target=post, args=(1,))
  second.start()
  deadline = time.time() + 60
  while inpainter.pending() < 2 and time.time() < deadline:
    time.sleep(0.05)  # the second is queued behind the first
  busy = _post(client, photos[0], masks[0])  # the queue (1 waiting) is full
  assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
  assert "busy" in busy.json()["error"]
  gate.set()
  first.join(120)
  second.join(120)
  assert done == [0, 1]  # in arrival order
  for i in range(2):
    events = [json.loads(line) for line in answers[i].text.splitlines()]
    if i == 1:
      assert {"queued": 1} in events  # it said it was waiting its turn
    got = _decode(events[-1]["result"]["fills"][0]["pasted_png"])
    _, want = _direct(model_file, photos[i], masks[i])
    np.testing.assert_array_equal(got, want[0])  # each got its own photo's fill
  inpainter.close()


def test_nothing_is_written_outside_the_temporary_folder(served, tmp_path, monkeypatch):
  _, client = served
  monkeypatch.chdir(tmp_path)
  big = np.random.default_rng(3).integers(0, 256, (1200, 1500, 3), dtype=np.uint8)
  mask = np.full(big.shape[:2], 255, np.uint8)
  mask[500:700, 600:900] = 0  # a 2+ MB upload: Starlette spools it to the temporary folder
  response = _post(client, big, mask)
  assert response.status_code == 200, response.text
  assert os.listdir(tmp_path) == []


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_the_command_serves_the_page_on_localhost_and_refuses_search_flags(model_file):
  script = os.path.join(os.path.dirname(sys.executable), "inpaint-jax")
  cli = [script] if os.path.exists(script) else [sys.executable, "-m", "inpaint_jax.cli"]
  refused = subprocess.run(cli + ["serve", "--preset", "fast"], capture_output=True, text=True,
                           timeout=120)
  assert refused.returncode == 2 and "serve takes its search settings from the page" in refused.stderr
  missing = subprocess.run(cli + ["serve", "--checkpoint", "/no/such/model.msgpack"],
                           capture_output=True, text=True, timeout=120)
  assert missing.returncode == 2 and "Traceback" not in missing.stderr
  assert "does not exist: /no/such/model.msgpack" in missing.stderr
  port = _free_port()
  server = subprocess.Popen(cli + ["serve", "--checkpoint", model_file, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    deadline, page = time.time() + 120, None
    while time.time() < deadline and page is None:
      try:
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
      except OSError:
        assert server.poll() is None, server.communicate()[1][-2000:]
        time.sleep(0.3)
    assert page and "<canvas" in page
  finally:
    server.terminate()
    out, _ = server.communicate(timeout=60)
  assert f"open http://127.0.0.1:{port}/" in out
