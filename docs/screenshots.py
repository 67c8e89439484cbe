"""Render README screenshots from a running `make run` (http://127.0.0.1:8000).

.venv/bin/python docs/screenshots.py [--base http://127.0.0.1:8000] [PATH=FILE ...]
"""

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="approver")
    parser.add_argument("shots", nargs="*", default=["/=screenshot.png"])
    args = parser.parse_args()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.goto(f"{args.base}/accounts/login/")
        page.fill("#id_username", args.user)
        page.fill("#id_password", f"{args.user}-demo-pass-1")
        page.click("button[type=submit]")
        page.wait_for_url(f"{args.base}/")
        for shot in args.shots:
            path, _, name = shot.partition("=")
            page.goto(args.base + path)
            page.wait_for_load_state("networkidle")  # panels that htmx fills after the page
            page.screenshot(path=str(HERE / name), full_page=False)
            print(HERE / name)
        browser.close()


if __name__ == "__main__":
    main()
