"""The page of `inpaint-jax serve` in a real headless browser (Debian's chromium, driven by
Selenium through chromium-driver): open a photo, paint a stroke, fill, and check that only
painted pixels changed in the downloaded photo.

Needs `apt-get install chromium chromium-driver` (CI's `.ci/run` installs them); skipped with
that hint where they are missing, unless INPAINT_JAX_REQUIRE_BROWSER=1 (CI), where it fails.
INPAINT_JAX_SCREENSHOT=page.png keeps a screenshot of the page with its result;
INPAINT_JAX_BROWSER_PHOTO=photo.jpg and INPAINT_JAX_BROWSER_MODEL=faces use a real photo
and a shipped model instead of the generated picture and the tiny test model (README's
screenshot: see BUILD_NOTES.md).
"""

import base64
import io
import os
import shutil
import socket
import tempfile
import threading
import time

import numpy as np
from PIL import Image
import pytest

pytest.importorskip("starlette", reason="the [serve] extra: pip install -e '.[serve]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
import uvicorn  # pylint: disable=g-import-not-at-top,wrong-import-position
from selenium.webdriver.common.action_chains import ActionChains  # pylint: disable=wrong-import-position
from selenium.webdriver.common.by import By  # pylint: disable=wrong-import-position
from selenium.webdriver.support import expected_conditions  # pylint: disable=wrong-import-position
from selenium.webdriver.support.ui import Select  # pylint: disable=wrong-import-position
from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=wrong-import-position

from conftest import export_tiny_model  # pylint: disable=wrong-import-position
from inpaint_jax.serve import app as serve_app  # pylint: disable=wrong-import-position

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _need_browser():
  if CHROMIUM and CHROMEDRIVER:
    return
  message = ("no chromium / chromedriver on PATH: apt-get install chromium chromium-driver "
             "(Debian) to run the page in a real browser")
  if os.environ.get("INPAINT_JAX_REQUIRE_BROWSER") == "1":
    pytest.fail(message)
  pytest.skip(message)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
  """The app on uvicorn on a free localhost port, in a thread of this process."""
  model = os.environ.get("INPAINT_JAX_BROWSER_MODEL")
  if model:
    models = [m for m in serve_app.default_models() if m.name == model]
  else:
    path = export_tiny_model(tmp_path_factory.mktemp("model") / "tiny.msgpack",
                             distinct_fills=True)
    models = serve_app.default_models(path)
  inpainter = serve_app.Inpainter(models)
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  instance = uvicorn.Server(uvicorn.Config(serve_app.create_app(inpainter), host="127.0.0.1",
                                           port=port, log_level="warning"))
  thread = threading.Thread(target=instance.run, daemon=True)
  thread.start()
  deadline = time.time() + 30
  while not instance.started and time.time() < deadline:
    time.sleep(0.05)
  assert instance.started, "uvicorn did not start"
  yield f"http://127.0.0.1:{port}/"
  instance.should_exit = True
  thread.join(30)
  inpainter.close()


@pytest.fixture(scope="module")
def browser():
  _need_browser()
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  profile = tempfile.mkdtemp(prefix="inpaint_jax_chromium_")
  # Headless, and none of the background connections a closed network refuses.
  for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-quic", "--no-first-run", "--window-size=1280,1100",
               f"--user-data-dir={profile}"):
    options.add_argument(flag)
  driver = webdriver.Chrome(options=options,
                            service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
  yield driver
  driver.quit()
  shutil.rmtree(profile, ignore_errors=True)


def _photo(path):
  source = os.environ.get("INPAINT_JAX_BROWSER_PHOTO")
  if source:
    Image.open(source).convert("RGB").save(path)
  else:  # larger than the page shows it (720 px wide), so the brush is mapped to the photo
    yy, xx = np.mgrid[0:600, 0:900]
    rgb = np.stack([(xx // 3) % 256, (yy // 2) % 256, (xx + yy) % 256], -1)
    Image.fromarray(rgb.astype(np.uint8)).save(path)
  return np.asarray(Image.open(path).convert("RGB"))


def _decode(data_url):
  assert data_url.startswith("data:image/png;base64,"), data_url[:40]
  return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def test_paint_a_stroke_fill_and_only_painted_pixels_change(server, browser, tmp_path):
  photo_path = str(tmp_path / "photo.png")
  original = _photo(photo_path)
  h, w = original.shape[:2]
  browser.get(server)
  wait = WebDriverWait(browser, 60)
  wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
  assert browser.find_element(By.ID, "run").get_attribute("disabled")  # nothing to fill yet
  browser.find_element(By.ID, "photo").send_keys(photo_path)
  wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "hint"), f"{w}x{h}"))
  if not os.environ.get("INPAINT_JAX_BROWSER_MODEL"):
    browser.find_element(By.ID, "iterations").send_keys("5")
  browser.find_element(By.ID, "fills").clear()
  browser.find_element(By.ID, "fills").send_keys("2")

  canvas = browser.find_element(By.ID, "canvas")
  shown_w = canvas.size["width"]
  # A horizontal stroke across the middle (offsets from the centre).
  stroke = ActionChains(browser).move_to_element_with_offset(canvas, -shown_w // 6, 0)
  stroke.click_and_hold().move_by_offset(shown_w // 6, 0).move_by_offset(shown_w // 6, 0)
  stroke.release().perform()
  # What was painted, at the photo's resolution, read back from the page's own mask canvas.
  painted = _decode(browser.execute_script("return mask.toDataURL('image/png')"))[..., 3] > 0
  assert painted.shape == (h, w)
  rows, cols = np.nonzero(painted)
  assert painted.sum() > 100
  # The stroke lands where it was drawn on the scaled view: centre-left to centre-right.
  assert abs(cols.min() - w / 3) < w / 12 and abs(cols.max() - 2 * w / 3) < w / 12
  assert abs(rows.mean() - 0.5 * h) < h / 12

  browser.find_element(By.ID, "run").click()
  wait = WebDriverWait(browser, 600 if os.environ.get("INPAINT_JAX_BROWSER_MODEL") else 120)
  wait.until(lambda d: d.find_element(By.ID, "results").is_displayed() or
             d.find_element(By.ID, "error").is_displayed())
  assert not browser.find_element(By.ID, "error").is_displayed(), \
      browser.find_element(By.ID, "error").text
  for image in ("masked", "chosen", "generated", "pasted"):
    assert browser.execute_script(
        f"const i = document.getElementById('{image}'); return i.complete && i.naturalWidth")
  choices = browser.find_elements(By.CSS_SELECTOR, "#fill_choices button")
  assert len(choices) == 2  # two distinct fills to pick from
  download = browser.find_element(By.ID, "download")
  fills = []
  for j, choice in enumerate(choices):
    choice.click()
    assert download.get_attribute("download") == f"photo_filled_{j + 1}.png"
    filled = _decode(download.get_attribute("href"))
    assert filled.shape == original.shape
    changed = (filled != original).any(-1)
    assert changed.any(), "the fill changed nothing"
    assert not (changed & ~painted).any(), "pixels outside the painted stroke changed"
    fills.append(filled)
  assert (fills[0] != fills[1]).any()
  choices[0].click()
  assert "iterations" in browser.find_element(By.ID, "status").text

  screenshot = os.environ.get("INPAINT_JAX_SCREENSHOT")
  if screenshot:
    browser.set_window_size(1280, browser.execute_script("return document.body.scrollHeight") + 40)
    browser.save_screenshot(screenshot)
  # Undo takes the stroke away; a generated mask switches the brush off.
  browser.find_element(By.ID, "undo").click()
  assert browser.execute_script("return state.history.length") == 0
  assert not (_decode(browser.execute_script("return mask.toDataURL('image/png')"))[..., 3]).any()
  Select(browser.find_element(By.ID, "mask_type")).select_by_value("center")
  assert browser.find_element(By.ID, "brush").get_attribute("disabled")


def test_the_page_shows_the_servers_message_for_a_bad_request(server, browser, tmp_path):
  path = str(tmp_path / "white.png")
  _photo(path)
  browser.get(server)
  wait = WebDriverWait(browser, 60)
  wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
  browser.find_element(By.ID, "photo").send_keys(path)
  wait.until(lambda d: not d.find_element(By.ID, "run").get_attribute("disabled"))
  browser.find_element(By.ID, "run").click()  # nothing painted: the page says so itself
  assert "paint the hole first" in browser.find_element(By.ID, "error").text
  # A mask that covers everything the model sees: the server's 400, shown on the page.
  browser.execute_script("state.history.push({tool: 'brush', size: 1e5, points: [[0, 0]]});"
                         " replay();")
  browser.find_element(By.ID, "run").click()
  wait.until(lambda d: d.find_element(By.ID, "error").is_displayed() and
             d.find_element(By.ID, "error").text)
  assert "leave some of it known" in browser.find_element(By.ID, "error").text
  assert not browser.find_element(By.ID, "results").is_displayed()
