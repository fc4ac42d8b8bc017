"""4. Pipeline: one task group whose stages (upload, submit, poll, download) pass tasks along
streams.
"""
