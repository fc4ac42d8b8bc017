"""`make bench`: throughput at the QPS ceiling, two baselines, and scale figures."""
