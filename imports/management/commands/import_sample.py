"""Print a reproducible sample of the members completed import jobs wrote, each beside its
source rows and what was stored (read-only: nothing is written, nothing audited)."""

import json
import secrets

from django.core.management.base import BaseCommand, CommandError

from imports import verification


class Command(BaseCommand):
    help = (
        "Draw a reproducible random sample of the members of one or more completed import "
        "jobs: each member with its source rows (file, row, raw values) and what was stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("jobs", nargs="+", type=int, metavar="JOB")
        parser.add_argument("--size", type=int, default=verification.DEFAULT_SIZE)
        parser.add_argument("--seed", type=int, default=None, help="default: a random seed")
        parser.add_argument("--json", action="store_true", help="one JSON document")

    def handle(self, *args, **opts):
        size = opts["size"]
        if not 1 <= size <= verification.MAX_SIZE:
            raise CommandError(f"--size is between 1 and {verification.MAX_SIZE}.")
        seed = opts["seed"] if opts["seed"] is not None else secrets.randbelow(10**9)
        try:
            members = verification.sample(opts["jobs"], size=size, seed=seed)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        out = {
            "seed": seed,
            "members": [
                {
                    "member": m["member"],
                    "sources": [
                        {"file": s["file"], "row": s["row"], "values": s["values"]}
                        for s in m["sources"]
                    ],
                    "stored": m["stored"],
                }
                for m in members
            ],
        }
        if opts["json"]:
            self.stdout.write(json.dumps(out, ensure_ascii=False))
            return
        self.stdout.write(f"seed {seed}: {len(members)} members")
        for n, m in enumerate(out["members"], start=1):
            stored = m["stored"]
            self.stdout.write(
                f"{n:>4}. {verification.label(m)}: {len(stored['orders'])} orders, "
                f"{len(stored['memberships'])} memberships, "
                f"{len(stored['commissions'])} commissions earned"
            )
            for s in m["sources"]:
                where = f"row {s['row']}" if s["row"] is not None else "file not available"
                self.stdout.write(f"        {s['file']} {where}")
