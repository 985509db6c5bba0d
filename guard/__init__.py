"""The state's protective measures around the service: intrusion prevention (address blocks, shared rate limits),
geographic exclusion of staff endpoints, and the security events the daily report reads."""
