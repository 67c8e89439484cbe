"""Render README screenshots from a running `make run` (http://127.0.0.1:8000).

.venv/bin/python docs/screenshots.py [--base http://127.0.0.1:8000] [--width 1360] [PATH=FILE ...]

With no PATH=FILE, renders the set the README and docs show (``SHOTS``). FILE is relative to
docs/. ``PATH@WIDTH=FILE`` renders that page at another viewport width (a phone's 400 px).
"""

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
HERE = Path(__file__).resolve().parent
SHOTS = [
    "/=screenshot.png",
    "/audit/?tier=production=screenshots/audit-production.png",
    "/audit/events/143/=screenshots/audit-event.png",
    "/environments/change-requests/20/=screenshots/change-request.png",
    "/search/?q=prod=screenshots/search.png",
    "/environments/projects/convoai/@400=screenshots/matrix-400px.png",
    "/accounts/settings/=screenshots/time-zone.png",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="approver")
    parser.add_argument("--width", type=int, default=1360)
    parser.add_argument("shots", nargs="*", default=SHOTS)
    args = parser.parse_args()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": 900})
        page.goto(f"{args.base}/accounts/login/")
        page.fill("#id_username", args.user)
        page.fill("#id_password", f"{args.user}-demo-pass-1")
        page.click("button[type=submit]")
        page.wait_for_url(f"{args.base}/")
        for shot in args.shots:
            path, _, name = shot.rpartition("=")
            path, _, width = path.partition("@")
            page.set_viewport_size({"width": int(width or args.width), "height": 900})
            page.goto(args.base + path)
            page.wait_for_load_state("networkidle")  # panels that htmx fills after the page
            (HERE / name).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(HERE / name), full_page=False)
            print(HERE / name)
        browser.close()


if __name__ == "__main__":
    main()
