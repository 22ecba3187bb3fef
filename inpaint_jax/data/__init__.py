"""Data: image sources and crops, step-indexed batches, masks, image values and files."""
