"""The server behind `inpaint-jax serve`: the page, and an HTTP API a script can call too.

  GET  /               the page (`static/index.html`; its script and style under /static/)
  GET  /api/info       the models, their presets, mask types, framings and limits (JSON)
  POST /api/inpaint    multipart/form-data, every field but `photo` optional:
         photo       the photo: PNG, JPEG, WebP, ... of any size
         mask        a mask file of the photo's size (dark or transparent pixels = the hole,
                     as `inpaint-jax inpaint --mask`), or instead
         mask_type   center | pattern | random | half (generated from `seed`)
         model       a name from /api/info (default: the first listed)
         preset      paper | fast | sharp (default: the model's, see /api/info)
         mirror      true | false (default: the preset's);  fills  1..MAX_FILLS;  crop  auto | square | stretch
         seed        int >= 0 (default 0);  iterations  search iterations (default: the preset's)
       -> 200 {"fills": [{"png", "pasted_png", "total_loss"}, ...] best first, "generated_png"
          (G(z) of the best), "masked_png", "losses" {context, prior, total}, "photo" {...},
          "settings" {...}, "seconds"}; PNGs as data: URLs, "png" at the model's size,
          "pasted_png" at the photo's own (the fill pasted into the hole only, as --paste_back).
       With ?progress=1 the answer is NDJSON instead: {"queued": n} (searches ahead of it) and
       {"progress": [done, total]} (search iterations) lines, then {"result": {...}} or
       {"error": "...", "status": 4xx/5xx}.

Bad input is refused before any search with a 4xx and {"error": "<one line>"}: 400 for a
file that is not an image, a mask of another size, no hole or nothing but hole, an unknown
model / preset / field; 411 without Content-Length; 413 for an upload over
`Limits.max_upload_bytes` or a photo over `Limits.max_pixels`. One search runs at a time, in
arrival order, in one worker thread; past `Limits.max_waiting` waiting requests a new one
gets 503 with Retry-After. Uploads are held in memory (Starlette spools large form parts to
the system's temporary folder); nothing the client sends names a file on this machine.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import dataclasses
import io
import json
import logging
import os
import threading
import time
from typing import Any

import numpy as np
from PIL import Image
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
import uvicorn

import inpaint_jax
from inpaint_jax import model_files
from inpaint_jax.configs import presets
from inpaint_jax.configs import search as search_config
from inpaint_jax.core import inpaint as inpaint_lib
from inpaint_jax.data import images as images_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.data import photos as photos_lib

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
CROPS = ("auto", "square", "stretch")
MAX_FILLS = 8
FIELDS = ("photo", "mask", "mask_type", "model", "preset", "mirror", "fills", "crop", "seed",
          "iterations")
log = logging.getLogger("inpaint_jax.serve")


@dataclasses.dataclass(frozen=True)
class Limits:
  max_upload_bytes: int = 20 * 2**20  # the whole request: photo + mask + fields
  max_pixels: int = 40_000_000  # of the photo (a 40-megapixel camera's)
  max_waiting: int = 4  # requests queued behind the running search before 503
  max_iterations: int = 20_000


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """A model the page offers: `path` a model file or workdir on the server; `encoder` its
  latent encoder file (None: a bundled model's own, if any)."""
  name: str
  path: str
  label: str
  encoder: str | None = None

  @property
  def has_encoder(self) -> bool:
    return bool(self.encoder or presets.bundled_encoder_for(self.path))

  @property
  def presets(self) -> list[str]:
    """The search presets this model can run (all but 'paper' start from an encoder)."""
    return list(search_config.PRESETS) if self.has_encoder else ["paper"]

  @property
  def default_preset(self) -> str:
    return search_config.DEFAULT_PRESET if self.has_encoder else "paper"


def default_models(checkpoint: str | None = None, encoder: str | None = None) -> list[ModelSpec]:
  """The shipped faces and cars models, after the server's own `checkpoint` where given."""
  models = [ModelSpec("faces", presets.bundled_model_path("celeba"),
                      "faces (CelebA, shipped)"),
            ModelSpec("cars", presets.bundled_model_path("cars"), "cars (Stanford Cars, shipped)")]
  if checkpoint:
    models.insert(0, ModelSpec("custom", checkpoint, os.path.basename(os.path.normpath(checkpoint)),
                               encoder))
  return models


class RequestError(ValueError):
  """Bad input from the client: its message goes back in one line with `status`."""

  def __init__(self, message: str, status: int = 400):
    super().__init__(message)
    self.status = status


@dataclasses.dataclass
class Job:
  """One request's inputs, checked and decoded, and its progress (written by the worker)."""
  model: ModelSpec
  preset: str
  config: Any
  params: dict
  photo: photos_lib.Photo
  small_mask: np.ndarray  # [S, S], 1 = known
  full_mask: np.ndarray  # [H, W]
  seed: int
  ticket: int = 0
  done: int = 0
  total: int = 0


def _data_url(image: np.ndarray) -> str:
  return "data:image/png;base64," + base64.b64encode(
      images_lib.encode_image("x.png", image)).decode("ascii")


def _unwrap(note: str) -> str:
  """`photos.size_note`'s ' (what was done); warning' without its outer brackets."""
  note = note.strip()
  if not note.startswith("("):
    return note
  depth = 0
  for i, c in enumerate(note):
    depth += {"(": 1, ")": -1}.get(c, 0)
    if depth == 0:
      return note[1:i] + note[i + 1:]
  return note


def _field(form, name: str, default: str | None = None) -> str | None:
  value = form.get(name)
  if value is None or value == "":
    return default
  if isinstance(value, UploadFile):
    raise RequestError(f"field '{name}' must be text, not a file")
  return value.strip()


def _integer(form, name: str, default: int | None, low: int, high: int) -> int | None:
  text = _field(form, name)
  if text is None:
    return default
  try:
    value = int(text)
  except ValueError:
    raise RequestError(f"field '{name}' must be a whole number, got {text!r}") from None
  if not low <= value <= high:
    raise RequestError(f"field '{name}' must be between {low} and {high}, got {value}")
  return value


def _boolean(form, name: str) -> bool | None:
  """The field as a bool, or None where it is absent (the preset's setting holds)."""
  if _field(form, name) is None:
    return None
  text = _field(form, name).lower()
  if text not in ("true", "false", "1", "0", "on", "off", "yes", "no"):
    raise RequestError(f"field '{name}' must be true or false, got {text!r}")
  return text in ("true", "1", "on", "yes")


def _choice(form, name: str, default: str, choices) -> str:
  value = _field(form, name, default)
  if value not in choices:
    raise RequestError(f"unknown {name} {value!r}: choose one of {', '.join(choices)}")
  return value


class Inpainter:
  """Loads each model once, checks requests, and runs their searches one at a time in one
  worker thread, in order of arrival."""

  def __init__(self, models: list[ModelSpec], limits: Limits = Limits()):
    if not models:
      raise ValueError("the server needs at least one model")
    self.models = {m.name: m for m in models}
    self.limits = limits
    self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="inpaint-search")
    self._loaded: dict[tuple, tuple] = {}
    self._load_lock = threading.Lock()
    self._count_lock = threading.Lock()
    self._issued = 0  # tickets handed out
    self._finished = 0  # searches finished (or dropped), in ticket order

  # ---------------------------------------------------------------- settings and models

  def info(self) -> dict:
    return {"version": inpaint_jax.__version__,
            "models": [{"name": m.name, "label": m.label, "presets": m.presets,
                        "default_preset": m.default_preset} for m in self.models.values()],
            "preset_mirror": {p: bool(search_config.get_config(p).mirror)
                              for p in search_config.PRESETS},
            "mask_types": list(masks_lib.MASK_TYPES), "crops": list(CROPS),
            "max_fills": MAX_FILLS,
            "limits": {"max_upload_bytes": self.limits.max_upload_bytes,
                       "max_pixels": self.limits.max_pixels,
                       "max_waiting": self.limits.max_waiting}}

  def settings(self, model: ModelSpec, preset: str, mirror: bool | None, fills: int,
               iterations: int | None) -> tuple[Any, dict]:
    """(config, params) for `inpaint`, loaded once per setting (`model_files.load_params`,
    the CLI's loader). k fills need k restarts: restarts = max(the preset's, k)."""
    restarts = max(search_config.get_config(preset).restarts, fills)
    key = (model.name, preset, mirror, fills, iterations)
    with self._load_lock:
      if key not in self._loaded:
        try:
          search = search_config.settings(preset, dict(mirror=mirror, fills=fills,
                                                       restarts=restarts, iterations=iterations))
          self._loaded[key] = model_files.load_params(model.path, search, model.encoder)
        except (FileNotFoundError, ValueError) as e:
          raise RequestError(f"model {model.name!r} cannot run: {e}", 500) from e
      return self._loaded[key]

  # ---------------------------------------------------------------- one request

  def prepare(self, form, files: dict[str, bytes]) -> Job:
    """Checks a request's fields and decodes its photo and mask; raises RequestError."""
    unknown = sorted(set(form.keys()) - set(FIELDS))
    if unknown:
      raise RequestError(f"unknown field(s) {', '.join(unknown)}: the API takes "
                         f"{', '.join(FIELDS)}")
    if "photo" not in files:
      raise RequestError("no photo: send the image file as the form field 'photo'")
    for name in ("photo", "mask"):  # sizes from the headers, before anything is decoded
      if name in files:
        self._check_pixels(files[name], name)
    model = self.models[_choice(form, "model", next(iter(self.models)), list(self.models))]
    preset = _choice(form, "preset", model.default_preset, list(search_config.PRESETS))
    if preset not in model.presets:
      raise RequestError(f"preset {preset!r} starts from a latent encoder, and model "
                         f"{model.name!r} has none: choose {', '.join(model.presets)}")
    mask_type = _field(form, "mask_type")
    if ("mask" in files) == (mask_type is not None):
      raise RequestError("send exactly one of 'mask' (a mask file of the photo's size) or "
                         f"'mask_type' ({', '.join(masks_lib.MASK_TYPES)})")
    if mask_type is not None and mask_type not in masks_lib.MASK_TYPES:
      raise RequestError(f"unknown mask_type {mask_type!r}: choose one of "
                         f"{', '.join(masks_lib.MASK_TYPES)}")
    mirror = _boolean(form, "mirror")
    fills = _integer(form, "fills", 1, 1, MAX_FILLS)
    crop = _choice(form, "crop", "auto", CROPS)
    seed = _integer(form, "seed", 0, 0, 2**31 - 1)
    iterations = _integer(form, "iterations", None, 1, self.limits.max_iterations)
    config, params = self.settings(model, preset, mirror, fills, iterations)

    try:
      photo = photos_lib.read_photo(files["photo"], crop, config, name="the photo")
      small, full = photos_lib.photo_mask(photo, config.model.image_size, files.get("mask"),
                                          mask_type, seed, mask_name="the mask")
    except ValueError as e:
      raise RequestError(str(e)) from e
    if small.min() == 1.0:
      raise RequestError("the mask has no hole: paint over what should be filled (or choose "
                         "a mask type)")
    if small.max() == 0.0:
      raise RequestError("the whole picture the model sees is masked: leave some of it "
                         "known, the fill is found from what is left")
    return Job(model, preset, config, params, photo, small, full, seed)

  def _check_pixels(self, data: bytes, what: str) -> None:
    try:
      with Image.open(io.BytesIO(data)) as im:
        w, h = im.size
    except Exception as e:  # pylint: disable=broad-except
      raise RequestError(f"the {what} is not an image this server can read "
                         f"({type(e).__name__}: {e})") from None
    if w * h > self.limits.max_pixels:
      raise RequestError(f"the {what} is {w}x{h} ({w * h / 1e6:.1f} megapixels); the limit "
                         f"is {self.limits.max_pixels / 1e6:.0f} megapixels", 413)

  # ---------------------------------------------------------------- the queue

  def submit(self, job: Job) -> concurrent.futures.Future:
    """Queues `job` behind the searches already waiting; RequestError 503 when full."""
    with self._count_lock:
      waiting = self._issued - self._finished - 1  # the one running is not waiting
      if waiting >= self.limits.max_waiting:
        raise RequestError(f"busy: {waiting} searches are waiting; retry in a few seconds", 503)
      job.ticket = self._issued
      self._issued += 1
    future = self._worker.submit(self._run, job)
    future.add_done_callback(self._retire)
    return future

  def _retire(self, _future) -> None:
    with self._count_lock:
      self._finished += 1

  def pending(self) -> int:
    """How many searches run or wait now."""
    with self._count_lock:
      return self._issued - self._finished

  def ahead(self, job: Job) -> int:
    """How many searches run or wait before `job`."""
    with self._count_lock:
      return max(0, job.ticket - self._finished)

  def _run(self, job: Job) -> dict:
    """The search and blend for one job (in the worker thread): the response's body."""
    start = time.perf_counter()
    cfg = job.config.search
    job.total = inpaint_lib.progress_total(cfg, 1)

    def advance(n):
      job.done += n

    result = inpaint_lib.inpaint(job.photo.model_input[None], job.small_mask[None], job.params,
                                 job.config, job.seed, progress=advance)
    if not (np.isfinite(result.blended).all() and np.isfinite(result.losses["total"]).all()):
      raise RequestError(f"the search produced NaN or infinite values with model "
                         f"{job.model.name!r}: its file may be damaged", 500)
    count = int(result.fill_count[0])
    fills = [{"png": _data_url(images_lib.to_uint8(result.fills[0, j])),
              "pasted_png": _data_url(photos_lib.paste_back(job.photo, result.fills[0, j],
                                                            job.full_mask)),
              "total_loss": float(result.losses["fills"][0, j])} for j in range(count)]
    h, w = job.photo.original.shape[:2]
    masked = images_lib.masked_input(job.photo.model_input[None], job.small_mask[None])[0]
    return {
        "fills": fills,
        "generated_png": _data_url(images_lib.to_uint8(result.generated[0])),
        "masked_png": _data_url(images_lib.to_uint8(masked)),
        "losses": {k: float(result.losses[k][0]) for k in ("context", "prior", "total")},
        "photo": {"width": w, "height": h, "box": list(job.photo.box),
                  "note": _unwrap(photos_lib.size_note(h, w, job.photo.rule)),
                  "missing_percent": round(100 * (1 - float(job.small_mask.mean())), 2)},
        "settings": {"model": job.model.name, "preset": job.preset, "seed": job.seed,
                     "iterations": int(cfg.iterations), "restarts": int(cfg.restarts),
                     "start": cfg.start, "tune_steps": int(cfg.tune_steps),
                     "mirror": bool(cfg.mirror), "fills": int(cfg.fills),
                     "iterations_run": int(result.iterations[0])},
        "fills_asked": int(cfg.fills),
        "seconds": round(time.perf_counter() - start, 3),
    }

  def warm_up(self, model: str | None = None) -> concurrent.futures.Future:
    """Compiles the default setting of `model` (default: the first) in the worker, so the
    first request does not wait for it: one grey picture with a centred hole."""
    spec = self.models[model or next(iter(self.models))]
    config, params = self.settings(spec, spec.default_preset, False, 1, None)
    size = config.model.image_size
    grey = np.zeros((size, size, 3), np.float32)
    photo = photos_lib.Photo("warm-up", images_lib.to_uint8(grey), (0, 0, size, size), grey,
                             photos_lib.framing("stretch", config, size, size))
    mask = masks_lib.center(size)
    return self.submit(Job(spec, spec.default_preset, config, params, photo, mask, mask, 0))

  def close(self) -> None:
    self._worker.shutdown(wait=False, cancel_futures=True)


# ------------------------------------------------------------------------ the web app


def _error(message: str, status: int) -> JSONResponse:
  headers = {"Retry-After": "5"} if status == 503 else None
  return JSONResponse({"error": message}, status, headers=headers)


async def _read_request(request: Request, limits: Limits) -> tuple[Any, dict[str, bytes]]:
  """The form's fields and its files' contents; RequestError for a missing or too large
  body, a body that is not multipart/form-data, or a repeated field."""
  length = request.headers.get("content-length")
  if length is None:
    raise RequestError("send the form with a Content-Length header", 411)
  if not length.isdigit() or int(length) > limits.max_upload_bytes:
    raise RequestError(f"the upload is {int(length) / 2**20:.1f} MB; the limit is "
                       f"{limits.max_upload_bytes / 2**20:.0f} MB" if length.isdigit() else
                       f"bad Content-Length {length!r}", 413 if length.isdigit() else 400)
  if not request.headers.get("content-type", "").startswith("multipart/form-data"):
    raise RequestError("send the photo as multipart/form-data (the 'photo' field)")
  try:
    form = await request.form(max_files=4, max_fields=len(FIELDS) + 4, max_part_size=2**16)
  except Exception as e:  # pylint: disable=broad-except
    raise RequestError(f"the form could not be read: {e}") from None
  files = {}
  for name in form.keys():
    values = form.getlist(name)
    if len(values) > 1:
      raise RequestError(f"field '{name}' is sent {len(values)} times; send it once")
    if isinstance(values[0], UploadFile):
      if name not in ("photo", "mask"):
        raise RequestError(f"field '{name}' must be text, not a file")
      files[name] = await values[0].read()
      if not files[name]:
        raise RequestError(f"the {name} file is empty")
    elif name in ("photo", "mask"):
      raise RequestError(f"field '{name}' must be a file")
  return form, files


def create_app(inpainter: Inpainter) -> Starlette:
  """The Starlette app serving the page and the API of the module docstring."""
  limits = inpainter.limits

  async def page(_request):
    return FileResponse(os.path.join(STATIC, "index.html"), media_type="text/html")

  async def info(_request):
    return JSONResponse(inpainter.info())

  async def inpaint_endpoint(request: Request):
    try:
      form, files = await _read_request(request, limits)
      # Decoding and checking take a while for large photos: off the event loop.
      job = await asyncio.to_thread(inpainter.prepare, form, files)
      await form.close()
      future = inpainter.submit(job)
    except RequestError as e:
      return _error(str(e), e.status)
    if request.query_params.get("progress") in ("1", "true"):
      return StreamingResponse(_events(job, future), media_type="application/x-ndjson")
    try:
      return JSONResponse(await asyncio.wrap_future(future))
    except RequestError as e:
      return _error(str(e), e.status)
    except Exception as e:  # pylint: disable=broad-except
      log.exception("search failed")
      return _error(f"the search failed: {type(e).__name__}: {e}", 500)

  async def _events(job: Job, future: concurrent.futures.Future):
    line = lambda obj: json.dumps(obj) + "\n"
    # The place in the queue always comes first, even where the worker took the job before
    # this first poll (then 0 ahead), so a client can rely on the stream's order.
    last = ("queued", inpainter.ahead(job))
    try:
      yield line({last[0]: last[1]})
      while not future.done():
        now = ("queued", inpainter.ahead(job)) if job.total == 0 else ("progress",
                                                                       [job.done, job.total])
        if now != last:
          yield line({now[0]: now[1]})
          last = now
        await asyncio.sleep(0.1)
      # The last iterations can finish between two polls: the stream still ends on them.
      if job.total and last != ("progress", [job.done, job.total]):
        yield line({"progress": [job.done, job.total]})
      try:
        yield line({"result": future.result()})
      except RequestError as e:
        yield line({"error": str(e), "status": e.status})
      except Exception as e:  # pylint: disable=broad-except
        log.exception("search failed")
        yield line({"error": f"the search failed: {type(e).__name__}: {e}", "status": 500})
    finally:
      future.cancel()  # a client that went away before its turn frees its place

  async def not_found(_request, _exc):
    return _error("no such page: the page is at /, the API at /api/info and /api/inpaint", 404)

  async def not_allowed(request, _exc):
    return _error(f"{request.method} is not allowed here", 405)

  async def server_error(_request, exc):
    log.error("unexpected error: %s", exc)
    return _error(f"internal error: {type(exc).__name__}", 500)

  routes = [Route("/", page), Route("/api/info", info),
            Route("/api/inpaint", inpaint_endpoint, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC))]
  app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed,
                                                     500: server_error})
  app.state.inpainter = inpainter
  return app


def serve(inpainter: Inpainter, host: str = "127.0.0.1", port: int = 8765) -> None:
  """Runs the page at http://host:port/ until interrupted (uvicorn)."""
  print(f"inpaint-jax serve: open http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
  try:
    uvicorn.run(create_app(inpainter), host=host, port=port, log_level="warning")
  finally:
    inpainter.close()
