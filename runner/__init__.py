"""seedream-batch: unattended, resumable batches of images and videos on the Chanjing Open API."""

__version__ = "0.1.0"
