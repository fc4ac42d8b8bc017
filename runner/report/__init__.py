"""5. Report: the ledger's records become summary.json, index.html, a notification and the
exit code.
"""
