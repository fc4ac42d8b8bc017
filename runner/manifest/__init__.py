"""1. Manifest: a YAML file (and its prompt files, local images) becomes validated tasks with
content keys.
"""
