"""seedream-batch: unattended, resumable batches of Seedream 4.0 images on the Chanjing Open API."""

__version__ = "0.1.0"
