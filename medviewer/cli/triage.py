"""``triage [run] PATH...``: run a model over every series of an archive into a results file
(resumable: run it again to go on; under ``torchrun`` each rank takes a share and rank 0
reports); ``triage report``: the stored results, most suspicious first (text, CSV or JSON).

``medviewer triage PATH...`` means ``medviewer triage run PATH...``: a folder named ``run`` or
``report`` is given as ``./run`` or ``./report``."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from medviewer.ai.device import DEVICE_CHOICES
from medviewer.cli.common import positive_int
from medviewer.cli.output import UsageError, print_json
from medviewer.errors import MedviewerError
from medviewer.triage.records import duration_text

ACTIONS = ("run", "report")
_SHOWN = 10
"""Rows of the most suspicious series (and skipped items) the run's summary shows."""


def with_default_action(argv: list[str]) -> list[str]:
    """``triage PATH...`` means ``triage run PATH...``."""
    first = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if first is None or argv[first] != "triage" or first + 1 >= len(argv):
        return argv
    if argv[first + 1] in (*ACTIONS, "-h", "--help"):
        return argv
    return [*argv[: first + 1], "run", *argv[first + 1 :]]


class TriageProgress:
    """The run's line on stderr (when it is a terminal): series done / total, series per
    minute, time left. Failed series are reported as they happen, terminal or not."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._shown = False
        self._last = 0.0

    def __call__(self, step) -> None:
        event = step.detail
        skipped = getattr(event, "skipped", None)
        if getattr(event, "kind", "") == "skipped" and getattr(skipped, "code", "") == "failed":
            self.close()
            print(f"warning: {skipped.reason}", file=self.stream, flush=True)
        if not self.enabled:
            return
        done = getattr(event, "done", None) or step.done
        total = getattr(event, "total", None) or step.total
        now = time.monotonic()
        if total and done < total and now - self._last < 0.2:
            return
        self._last = now
        line = step.message or "triage"
        if getattr(event, "kind", "") == "scanning" and total:
            line = f"scanning {done}/{total} files"
        elif total:
            filled = 24 * done // total
            line = f"triage {done}/{total} series [{'#' * filled}{'.' * (24 - filled)}]"
            rate, eta = getattr(event, "series_per_min", None), getattr(event, "eta_s", None)
            if rate:
                line += f" {rate:.1f} series/min"
            if eta is not None and done < total:
                line += f", {duration_text(eta)} left"
        self.stream.write("\r" + line[:100].ljust(100))
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()
            self._shown = False


def _mismatch(exc, results: Path) -> MedviewerError:
    return MedviewerError(
        f"{results} holds results of {exc.stored.describe()}; use --rerun-other-model to "
        f"add results of {exc.model.ref} beside them, or another --results file"
    )


def _results_path(args) -> Path:
    from medviewer.triage.store import default_results_path

    return Path(args.results).expanduser() if args.results else default_results_path()


def cmd_triage_run(args) -> int:
    """Classify every series the model applies to; one row per series in the results file."""
    from medviewer.ai import ddp
    from medviewer.jobs import run_job
    from medviewer.triage.job import TriageOptions, triage_iter
    from medviewer.triage.records import ResultsModelMismatch

    missing = [p for p in args.paths if not os.path.exists(p)]
    if len(missing) == len(args.paths):
        raise MedviewerError(f"no such file or folder: {missing[0]}")
    for path in missing:
        print(f"warning: no such file or folder: {path} (left out)", file=sys.stderr)
    results = _results_path(args)
    given = {"workers": args.workers, "batch_size": args.batch_size}
    options = TriageOptions(
        model_ref=args.model,
        device=args.device,
        accept_other_model=args.rerun_other_model,
        precision=args.precision,
        **{k: v for k, v in given.items() if v is not None},
    )
    paths = [p for p in args.paths if p not in missing]
    bar = TriageProgress() if ddp.rank() == 0 else None
    try:
        if ddp.world_size() > 1:
            from medviewer.triage.shard import run_distributed

            summary = run_distributed(paths, results, options, on_progress=bar)
        else:
            summary = run_job(triage_iter(paths, results, options), bar)
    except ResultsModelMismatch as exc:
        raise _mismatch(exc, results) from None
    except KeyboardInterrupt:
        raise MedviewerError(
            f"interrupted; the results stored so far are kept in {results}: run the same "
            "command again to go on"
        ) from None
    finally:
        if bar is not None:
            bar.close()
    if summary is None:  # a rank other than 0 of a torchrun: rank 0 reports
        return 0
    _print_run_summary(summary, args.json, asked=args.precision)
    return 0


def _stored(path, model):
    """The results of ``model`` and the skipped items in the file at ``path``."""
    from medviewer.triage.store import ResultsStore

    with ResultsStore(path, read_only=True) as store:
        return store.results(model.sha256) if model else [], store.skipped()


def _print_run_summary(summary, as_json: bool, asked: str = "auto") -> None:
    from medviewer.triage import report

    results, skipped = _stored(summary.results_path, summary.model)
    counts = report.summary(results, skipped)
    if as_json:
        print_json({**summary.to_dict(), "stored": counts})
        return
    out = sys.stdout
    model = summary.model.describe() if summary.model else "no model"
    rate = f", {summary.series_per_min:.1f} series/min" if summary.series_per_min else ""
    if summary.precision == "bf16":
        model += " in bfloat16"
    out.write(
        f"triage with {model}: {summary.done} series classified, {summary.already} already "
        f"stored, {summary.skipped} skipped, {summary.failed} failed "
        f"({duration_text(summary.seconds)}{rate})\n"
        f"results: {summary.results_path}\n"
    )
    if "fp32" in (summary.precision, asked) and summary.already:
        from medviewer.triage.job import BF16_NOTE

        kept = sum(1 for r in results if BF16_NOTE in r.warnings)
        if kept:  # an fp32 run does not redo rows stored in bfloat16: say so
            out.write(
                f"note: {kept} stored series were classified in bfloat16 and were kept as "
                "they are; give another --results file for float32 rows of them\n"
            )
    _print_counts(counts, out)
    if results:
        out.write("\nmost suspicious first:\n")
        out.write(report.text_table(results, _SHOWN))
    _print_skipped(skipped, _SHOWN, out)
    out.write(
        f"\nall of them: medviewer triage report --results {summary.results_path}\n"
        f"{report.NOT_FOR_DIAGNOSIS}\n"
    )


def _print_counts(counts: dict, out) -> None:
    by_class = ", ".join(f"{c} {n}" for c, n in counts["by_top_class"].items()) or "none"
    out.write(
        f"{counts['series']} series stored: {by_class}; {counts['flagged_series']} with "
        "flagged slices\n"
    )


def _print_skipped(skipped, limit: int | None, out) -> None:
    from medviewer.triage.report import skipped_lines

    if skipped:
        out.write(f"\nskipped ({len(skipped)}):\n")
        out.writelines(f"  {line}\n" for line in skipped_lines(skipped, limit))


def _choose_model(models, wanted: str | None, path: Path):
    """The model whose results to report: ``wanted`` (sha256 or its start, NAME or
    NAME:VERSION), else the one that stored last (None when the file holds no results)."""
    if not wanted:
        return None
    w = wanted.strip().lower()
    found = [
        m
        for m in models
        if w in (m.ref.lower(), m.name.lower()) or (len(w) >= 6 and m.sha256.startswith(w))
    ]
    if not found:
        held = "; ".join(m.describe() for m in models) or "no results"
        raise MedviewerError(f"{path} holds no results of {wanted} (it holds: {held})")
    return found[-1]


def cmd_triage_report(args) -> int:
    """The stored results, most suspicious first: a table, CSV (--csv) or JSON (--json)."""
    from medviewer.triage import report
    from medviewer.triage.store import ResultsStore

    if args.csv is not None and args.json:
        raise UsageError("choose one of --csv and --json")
    path = _results_path(args)
    with ResultsStore(path, read_only=True) as store:
        models = store.models()
        model = _choose_model(models, args.model, path)
        results = store.results(model.sha256 if model else None)
        skipped = store.skipped()
    if model is None and results:
        model = results[0].model
    shown = results if args.limit is None else report.most_suspicious_first(results)[: args.limit]
    if args.json:
        print_json(
            {
                "results_file": str(path),
                "model": model.to_dict() if model else None,
                "models": [m.to_dict() for m in models],
                "summary": report.summary(results, skipped),
                "results": report.report_rows(shown),
                "skipped": [s.to_dict() for s in skipped],
            }
        )
    elif args.csv is not None:
        if args.csv == "-":
            report.write_csv(shown, sys.stdout)
        else:
            try:
                report.write_csv(shown, args.csv)
            except OSError as exc:
                raise MedviewerError(
                    f"cannot write {args.csv} ({exc.strerror or exc}); choose another file"
                ) from None
            print(f"wrote {len(shown)} series to {args.csv}", file=sys.stderr)
    else:
        _print_report(path, model, models, results, shown, skipped)
    return 0


def _print_report(path, model, models, results, shown, skipped) -> None:
    from medviewer.triage import report

    out = sys.stdout
    who = model.describe() if model else "no model"
    out.write(f"{path}: results of {who}, most suspicious first\n")
    _print_counts(report.summary(results, skipped), out)
    out.write("\n" + report.text_table(shown))
    if len(shown) < len(results):
        out.write(f"... {len(results) - len(shown)} more series (raise --limit)\n")
    _print_skipped(skipped, None, out)
    others = [m for m in models if model is None or m.sha256 != model.sha256]
    if others:
        names = ", ".join(m.describe() for m in others)
        out.write(f"\nthe file also holds results of {names} (choose with --model)\n")
    out.write(f"\n{report.NOT_FOR_DIAGNOSIS}\n")


def cmd_triage_usage(args) -> int:
    raise UsageError(
        "say what to do: medviewer triage PATH... (classify an archive) or medviewer triage "
        "report (the stored results)"
    )


def register(sub) -> None:
    p = sub.add_parser(
        "triage",
        help="run a model over a whole archive (resumable); triage report: most suspicious first",
        description="medviewer triage [run] PATH... classifies every series into a results "
        "file; medviewer triage report shows them, most suspicious first.",
    )
    p.set_defaults(func=cmd_triage_usage)
    tsub = p.add_subparsers(dest="triage_command", metavar="ACTION")
    q = tsub.add_parser(
        "run", help="classify every series of PATH... (the default: medviewer triage PATH...)"
    )
    q.add_argument("paths", nargs="+", metavar="PATH", help="folders, files or DICOMDIRs")
    q.add_argument(
        "--model", metavar="NAME[:VERSION]", help="default: the active model for each modality"
    )
    q.add_argument(
        "--results", metavar="FILE", help="results file (default: in the user data folder)"
    )
    q.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    q.add_argument(
        "--workers", type=positive_int, metavar="N", help="series loaded ahead of the model"
    )
    q.add_argument("--batch-size", type=positive_int, metavar="N", help="slices per batch")
    q.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="bf16: bfloat16 autocast, 2-3x faster on CPUs with AMX / AVX-512 BF16 and recent "
        "GPUs (slower where emulated); probabilities within ~0.01 of fp32, noted in each row. "
        "auto (default): bf16 where the hardware does it natively, else fp32",
    )
    q.add_argument(
        "--rerun-other-model",
        action="store_true",
        help="the results file holds another model's results: add this model's beside them",
    )
    q.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    q.set_defaults(func=cmd_triage_run)

    q = tsub.add_parser("report", help="the stored results, most suspicious first")
    q.add_argument(
        "--results", metavar="FILE", help="results file (default: in the user data folder)"
    )
    q.add_argument("--csv", nargs="?", const="-", metavar="OUT", help="CSV, to OUT or to stdout")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.add_argument(
        "--limit", type=positive_int, metavar="N", help="only the N most suspicious series"
    )
    q.add_argument(
        "--model", metavar="REF", help="NAME[:VERSION] or sha256 (default: the latest model)"
    )
    q.set_defaults(func=cmd_triage_report)
