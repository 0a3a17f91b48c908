"""The web face's facts about a request: who is asking (the client's address behind the trusted proxies), and
the API tokens pipelines ask with (tokens.py)."""
