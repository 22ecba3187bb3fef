"""ml_collections configs: `get_config()` in each file; pass a file with `--config`."""
