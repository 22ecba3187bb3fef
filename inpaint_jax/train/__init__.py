"""Training: one resumable loop (`loop.train`), the DCGAN and Context Encoder tasks, checkpoints."""
