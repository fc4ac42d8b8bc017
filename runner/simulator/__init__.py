"""A faithful local stand-in for the Chanjing Open API (see shared chanjing-api.md).

A product feature, not only a test fake: `seedream-batch simulate` serves it,
`run --simulate` runs against it in-process. The pipeline never imports it.
"""

from runner.simulator.config import DEMO_APP_ID, DEMO_SECRET_KEY, SimConfig
from runner.simulator.server import RunningSimulator, serve_forever

__all__ = ["DEMO_APP_ID", "DEMO_SECRET_KEY", "RunningSimulator", "SimConfig", "serve_forever"]
