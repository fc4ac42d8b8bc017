"""The review page: a local web page to keep, reject and edit the prompts of a run's results."""
