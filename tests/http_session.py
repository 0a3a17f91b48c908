"""A browser without a browser: plain HTTP with cookies against a console a test started (runconsole).

    session = HttpSession(f"http://127.0.0.1:{port}", headers={"X-Forwarded-For": "203.0.113.9"})
    session.sign_in("admin", password)      # 302 (signed in), 200 (the form again) or 429 (locked)
    status, page = session.open("/admin/backups_app/retentionpolicy/")

Errors come back as their status and body, never as exceptions.
"""

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

LOGIN = "/admin/login/?next=/admin/"


class HttpSession:
    def __init__(self, url: str, *, headers: dict | None = None):
        self.url, self.headers = url, headers or {}
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def open(self, path: str, data: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        request = urllib.request.Request(self.url + path, data=body, headers=self.headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def post_form(self, path: str, data: dict) -> tuple[int, str]:
        """Posts data as the page's form would: with the CSRF token of the page at path."""
        _status, page = self.open(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        return self.open(path, {"csrfmiddlewaretoken": token, **data})

    def sign_in(self, username: str, password: str) -> int:
        status, page = self.post_form(LOGIN, {"username": username, "password": password})
        if status == 200 and 'id="login-form"' not in page:
            return 302  # the redirect to the dashboard, followed
        return status
