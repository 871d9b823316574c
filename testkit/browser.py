"""A real headless Chromium for the dashboard's tests and screenshots: Debian's
`chromium` driven through its own `chromium-driver` (same build, so the two always
match; scripts/system-packages installs both), by Selenium. Nothing is downloaded."""

from __future__ import annotations

import shutil

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

LAPTOP = (1280, 860)
PHONE = (390, 844)


class NoBrowser(RuntimeError):
    """chromium or chromedriver is not installed."""


def chromium(size: tuple[int, int] = LAPTOP) -> webdriver.Chrome:
    """A headless Chromium of window `size` (quit() it when done)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        raise NoBrowser(
            "the browser tests need Debian's chromium and chromium-driver "
            "(scripts/system-packages installs them as root)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-extensions", "--no-first-run", f"--window-size={size[0]},{size[1]}",
    ):  # fmt: skip
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=Service(driver))
    browser.set_page_load_timeout(30)
    return browser
