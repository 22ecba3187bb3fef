"""`inpaint-jax serve`: a local web page to paint a hole on a photo and get its fills, and the
HTTP API behind it (`serve.app`). Needs the `[serve]` extra (Starlette, uvicorn,
python-multipart); the page and its script ship in `serve/static/` (nothing from a CDN)."""
