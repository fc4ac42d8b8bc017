"""The commands `cli` calls: each wires the folders above for one job (run, validate, plan,
status, ...).
"""
