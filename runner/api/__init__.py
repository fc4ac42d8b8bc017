"""3. API: the Chanjing client, credentials, the account limiter and its rate control, retry
policy.
"""
