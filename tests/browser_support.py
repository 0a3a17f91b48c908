"""The real browser of the browser tests (load with pytest_plugins): Debian's chromium, headless, through Playwright."""

import shutil
from pathlib import Path

import pytest

CHROMIUM = "chromium"  # Debian's own, found on PATH (/usr/bin/chromium)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Never a downloaded browser: Debian's own chromium, headless.
        b = p.chromium.launch(executable_path=shutil.which(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync",
        ])
        yield b
        b.close()


def screenshot(page, name: str) -> Path:
    """A full-page screenshot kept in test-artifacts/ for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
