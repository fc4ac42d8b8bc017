"""The pipeline's stages, in the order a task meets them: submit, poll, download."""
