"""Import Sejoli exports (or the team's spreadsheet) from the command line.

Files in another layout are read through a column mapping, as the web upload does: a saved
preset (``--preset NAME``) and/or ``--map "FILE COLUMN=field"`` pairs (``--map`` wins).
"""

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from imports import engine, services
from imports.choices import KIND_ORDER, JobKind, JobStatus
from imports.formats import canonical_mapping, parse_bytes
from imports.models import ColumnPreset


class Command(BaseCommand):
    help = "Import Sejoli export files in dependency order (users, orders, commissions, ...)."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--kind", default="auto", choices=["auto", *JobKind.values])
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FILE COLUMN=field",
            help="read the file column into the layout's field (repeat; needs --kind or --preset)",
        )
        parser.add_argument("--preset", help="a saved column preset (mapping and kind) by name")
        parser.add_argument("--dry-run", action="store_true", help="validate and report only")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument(
            "--background", action="store_true", help="queue on the imports cluster"
        )
        parser.add_argument("--as", dest="username", help="operator the jobs are recorded under")
        parser.add_argument(
            "--json", action="store_true", help="one JSON object per file, then totals"
        )

    def handle(self, *args, **opts):
        actor = None
        if opts["username"]:
            actor = get_user_model().objects.filter(username=opts["username"]).first()
            if actor is None:
                raise CommandError(f"No user {opts['username']!r}.")
        kind, mapping = self._mapping(opts)
        files = []
        for path in opts["paths"]:
            p = Path(path)
            if not p.is_file():
                raise CommandError(f"{path}: no such file")
            data = p.read_bytes()
            try:
                file_kind = parse_bytes(data, kind=kind, mapping=mapping).kind
            except ValidationError as exc:
                raise CommandError(f"{path}: {' '.join(exc.messages)}") from exc
            files.append((KIND_ORDER.index(file_kind), p, data))
        files.sort(key=lambda f: f[0])
        out = []
        for _, path, data in files:
            try:
                job = services.job_create(
                    actor=actor,
                    data=data,
                    name=path.name,
                    kind=kind,
                    batch_size=opts["batch_size"],
                    mapping=mapping,
                    validate="now",
                )
            except ValidationError as exc:
                raise CommandError(f"{path}: {' '.join(exc.messages)}") from exc
            if job.status == JobStatus.FAILED:
                raise CommandError(f"{path}: {job.error}")
            if not opts["dry_run"]:
                job = services.job_confirm(actor=actor, job=job, enqueue=opts["background"])
                if not opts["background"]:
                    job = services.job_apply(job_id=job.pk, progress=self._progress(opts))
                    if not opts["json"]:
                        self.stderr.write("")
            out.append(self._summary(job, opts["dry_run"]))
            if not opts["json"]:
                s = out[-1]
                self.stdout.write(
                    f"{path.name}: job #{s['job']} {s['status']} {s['kind']} rows={s['rows']} "
                    f"created={s['created']} updated={s['updated']} unchanged={s['unchanged']} "
                    f"rejected={len(s['rejected'])} {s['seconds']}s"
                )
        if opts["json"]:
            for s in out:
                self.stdout.write(json.dumps(s, default=str))
            self.stdout.write(json.dumps({"totals": engine.totals()}))

    @staticmethod
    def _mapping(opts) -> tuple[str, dict[str, str] | None]:
        """(kind, {field: file column} or None) from --kind, --preset and --map."""
        kind, mapping = opts["kind"], {}
        if opts["preset"]:
            preset = ColumnPreset.objects.filter(name=opts["preset"]).first()
            if preset is None:
                names = ColumnPreset.objects.order_by("name").values_list("name", flat=True)
                saved = ", ".join(names) or "none is saved"
                raise CommandError(f"No column preset {opts['preset']!r} (presets: {saved}).")
            if kind not in ("auto", preset.kind):
                raise CommandError(f"Preset {preset.name!r} maps {preset.kind} files, not {kind}.")
            kind, mapping = preset.kind, dict(preset.mapping)
        if opts["map"] and kind == "auto":
            raise CommandError(
                "--map needs --kind (the layout whose fields you map to) or --preset."
            )
        for item in opts["map"]:
            column, sep, name = item.rpartition("=")
            if not sep or not column.strip() or not name.strip():
                raise CommandError(f'--map {item!r}: write it as "FILE COLUMN=field".')
            mapping[name.strip()] = column.strip()
        if not mapping:
            return kind, None
        try:
            return kind, canonical_mapping(kind, mapping)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc

    def _progress(self, opts):
        if opts["json"]:
            return None

        def show(job):
            width = 30
            done = int(width * job.percent / 100)
            self.stderr.write(
                f"\r[{'#' * done}{'.' * (width - done)}] {job.percent:3d}% "
                f"{job.processed_rows}/{job.total_rows} rows {job.rows_per_second:.0f} rows/s",
                ending="",
            )
            self.stderr.flush()

        return show

    @staticmethod
    def _summary(job, dry_run: bool) -> dict:
        p = job.preview
        rejected = [{"row": e.row, "key": e.key, "reason": e.reason} for e in job.row_errors.all()]
        done = not dry_run and job.status == JobStatus.COMPLETED
        return {
            "job": job.pk,
            "kind": job.kind,
            "file": job.original_name,
            "status": job.status,
            "sha256": job.sha256,
            "rows": job.total_rows,
            "created": job.created_count if done else p.get("created", 0),
            "updated": job.updated_count if done else p.get("updated", 0),
            "unchanged": job.unchanged_count if done else p.get("unchanged", 0),
            "rejected": rejected,
            "seconds": round(job.seconds if done else p.get("seconds", 0), 2),
            "rows_per_second": job.rows_per_second if done else None,
            "dry_run": dry_run,
            "reviews": p.get("reviews", {}),
            "notes": p.get("notes", []),
        }
