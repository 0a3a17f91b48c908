"""Keep secrets out of everything a person or a log can read."""

import re

MASK = "********"
_CONNINFO_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)([^@\s]+)(@)", re.IGNORECASE)


def scrub(text: str, secrets=()) -> str:
    """Replace every given secret and anything shaped like a password setting."""
    if not text:
        return text
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = _CONNINFO_PASSWORD.sub(lambda m: m.group(1) + MASK, text)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), text)
