"""Networks (Flax linen modules): the DCGAN, the Context Encoder and their shared layers."""
