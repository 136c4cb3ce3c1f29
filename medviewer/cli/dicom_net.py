"""``medviewer dicom``: the hospital DICOM network from the command line.

    medviewer dicom nodes [list]                         the configured nodes and this station
    medviewer dicom nodes add NAME AE_TITLE HOST PORT [--retrieve get|move]
    medviewer dicom nodes remove NAME
    medviewer dicom nodes local [--ae-title AE] [--port N] [--allow AE ...] [--folder DIR]
    medviewer dicom echo NODE
    medviewer dicom find NODE [--patient-name ...] [--patient-id ...] [--accession ...]
                              [--date FROM-TO] [--modality CT] [--description ...]
                              [--study UID (series level)] [--limit N]
    medviewer dicom get NODE --study UID [--series UID] [--method get|move] [--to DIR]
    medviewer dicom send NODE PATH...
    medviewer dicom receive [--port N] [--ae-title AE] [--allow AE ...] [--to DIR]

Every command takes ``--json``. Nothing here opens a socket unless a node is named.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading

from medviewer.cli.output import ProgressBar, UsageError, print_json
from medviewer.errors import MedviewerError

EXIT_NOT_OK = 1


def _config():
    from medviewer.net.nodes import load_config

    config, warnings = load_config()
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    return config


def _store(config, folder: str | None):
    from medviewer.net.storage import StudyStore
    from medviewer.settings import user_data_dir

    root = folder or config.local.store_folder or str(user_data_dir() / "studies")
    return StudyStore(root, int(config.local.store_cap_gb * 1e9))


def cmd_nodes(args) -> int:
    from dataclasses import replace

    from medviewer.net.nodes import RemoteNode, save_config

    config = _config()
    action = args.nodes_action or "list"
    if action == "add":
        config = config.with_node(
            RemoteNode(args.name, args.ae_title, args.host, args.port, args.retrieve),
            replace=args.replace,
        )
        save_config(config)
    elif action == "remove":
        config = config.without_node(args.name)
        save_config(config)
    elif action == "local":
        changes = {}
        if args.ae_title is not None:
            changes["ae_title"] = args.ae_title
        if args.port is not None:
            changes["port"] = args.port
        if args.allow is not None:
            changes["allowed_callers"] = tuple(args.allow)
        if args.folder is not None:
            changes["store_folder"] = os.path.abspath(args.folder)
        if args.receive is not None:
            changes["receive_enabled"] = args.receive == "on"
        config.local = replace(config.local, **changes).checked()
        save_config(config)
    if args.json:
        print_json(config.to_dict())
        return 0
    local = config.local
    print(
        f"this station: AE title {local.ae_title}, receive port {local.port}, receiver "
        f"{'on' if local.receive_enabled else 'off'}, accepts from "
        f"{', '.join(config.callers()) or 'nobody'}"
    )
    if not config.nodes:
        print("no DICOM node configured (medviewer dicom nodes add NAME AE_TITLE HOST PORT)")
    for n in config.nodes:
        print(f"{n.name}: {n.ae_title} at {n.host}:{n.port}, retrieve by C-{n.retrieve.upper()}")
    return 0


def cmd_echo(args) -> int:
    from medviewer.net.verify import echo

    config = _config()
    result = echo(config.node(args.node), config.local.ae_title, args.timeout)
    if args.json:
        print_json(result.to_dict())
    else:
        # "verify with X failed: why" -> "failed: verify with X: why" (one "failed")
        text = result.message if result.ok else result.message.replace(" failed: ", ": ", 1)
        print(("ok: " if result.ok else "failed: ") + text)
    return 0 if result.ok else EXIT_NOT_OK


def _date_range(text: str | None) -> tuple[str, str]:
    """``--date``: one day or FROM-TO, as YYYYMMDD or ISO YYYY-MM-DD (either side may be empty:
    ``20260101-`` from, ``-20261231`` until)."""
    if not text:
        return "", ""
    text = re.sub(r"(\d{4})-(\d{2})-(\d{2})", r"\1\2\3", text.strip())  # ISO dates
    if "-" in text:
        a, b = text.split("-", 1)
        return a.strip(), b.strip()
    return text, text


def _cut(text: str, width: int) -> str:
    """``text`` in ``width`` characters: padded, or cut with "…"."""
    return f"{text:{width}}" if len(text) <= width else text[: width - 1] + "…"


def cmd_find(args) -> int:
    from medviewer.jobs import run_job
    from medviewer.net.query import Query, find_iter

    config = _config()
    date_from, date_to = _date_range(args.date)
    query = Query(
        patient_name=args.patient_name or "",
        patient_id=args.patient_id or "",
        accession=args.accession or "",
        date_from=date_from,
        date_to=date_to,
        modality=args.modality or "",
        description=args.description or "",
        study_uid=args.study or "",
    )
    level = "SERIES" if args.study else "STUDY"
    job = find_iter(config.node(args.node), config.local.ae_title, query, level, limit=args.limit)
    result = run_job(job)
    if args.json:
        print_json(result.to_dict())
        return 0
    # identifiers are printed whole (a cut patient ID is another patient's); names are cut
    # with "…" at 30 characters
    id_width = max((len(m.patient_id or "-") for m in result.matches), default=1)
    name_width = min(max((len(m.patient_name or "-") for m in result.matches), default=1), 30)
    for m in result.matches:
        if level == "STUDY":
            count = m.instances if m.instances is not None else "?"
            print(
                f"{m.study_date or '-':8}  {_cut(m.patient_name or '-', name_width)}  "
                f"{m.patient_id or '-':{id_width}}  {m.modalities or '-':6.6}  {count:>5}  "
                f"{m.description or '-'}  {m.study_uid}"
            )
        else:
            print(
                f"{m.series_number or '-':>4}  {m.modalities or '-':4.4}  "
                f"{m.instances if m.instances is not None else '?':>5}  "
                f"{m.description or '-':30.30}  {m.series_uid}"
            )
    print(result.message, file=sys.stderr)
    return 0


def cmd_get(args) -> int:
    from medviewer.jobs import run_job
    from medviewer.net.retrieve import retrieve_iter

    config = _config()
    store = _store(config, args.to)
    node = config.node(args.node)
    with ProgressBar(f"retrieving from {node.name}") as bar:
        result = run_job(
            retrieve_iter(
                node,
                config.local,
                store,
                args.study,
                args.series or "",
                method=args.method,
                timeout=args.timeout,
            ),
            bar,
        )
    if args.json:
        print_json({**result.to_dict(), "folder": str(store.root)})
    else:
        print(result.message)
        for line in result.failures[:20]:
            print(f"  failed: {line}")
        print(f"files: {store.root / result.study_uid}")
    return 0 if result.ok else EXIT_NOT_OK


def cmd_send(args) -> int:
    from medviewer.jobs import run_job
    from medviewer.net.send import send_iter

    config = _config()
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        raise MedviewerError(f"no such file or folder: {missing[0]}")
    node = config.node(args.node)
    with ProgressBar(f"sending to {node.name}") as bar:
        result = run_job(
            send_iter(node, config.local.ae_title, args.paths, timeout=args.timeout), bar
        )
    if args.json:
        print_json(result.to_dict())
    else:
        print(result.message)
        for line in result.failures[:20]:
            print(f"  not sent: {line}")
    return 0 if not result.failures else EXIT_NOT_OK


def cmd_receive(args) -> int:
    from dataclasses import replace

    from medviewer.net.receiver import Receiver

    config = _config()
    local = config.local
    if args.ae_title is not None:
        local = replace(local, ae_title=args.ae_title)
    if args.port is not None:
        local = replace(local, port=args.port)
    if args.bind is not None:
        local = replace(local, bind_address=args.bind)
    local = local.checked()
    callers = tuple(args.allow) if args.allow else config.callers()
    store = _store(config, args.to)
    stop = threading.Event()

    def show(arrival) -> None:
        if args.json:
            import json

            print(json.dumps(arrival.to_dict()), flush=True)
        else:
            print(f"{arrival.kind}: {arrival.message}", flush=True)

    receiver = Receiver(local, store, callers, on_event=show).start()
    previous = signal.signal(signal.SIGTERM, lambda *a: stop.set())
    print(
        f"receiving as {local.ae_title} on port {receiver.port} into {store.root} from "
        f"{', '.join(callers)}; Ctrl+C to stop",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
        signal.signal(signal.SIGTERM, previous)
    stored = sum(a.kind == "stored" for a in receiver.events)
    print(f"receiver stopped; {stored} instance(s) stored", file=sys.stderr)
    return 0


def cmd_dicom_usage(args) -> int:
    raise UsageError("say what to do: nodes, echo, find, get, send or receive")


def _positive_float(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected seconds above 0, got {text!r}")
    return value


NODE_HELP = "a configured node's name (medviewer dicom nodes list)"


def register(sub) -> None:
    from medviewer.cli.common import positive_int

    p = sub.add_parser(
        "dicom",
        help="the hospital DICOM network: nodes, echo, find, get, send, receive",
        description="Query and retrieve from the PACS, send to it, receive studies. Only the "
        "nodes you configure are ever contacted.",
    )
    p.set_defaults(func=cmd_dicom_usage)
    dsub = p.add_subparsers(dest="dicom_command", metavar="ACTION")

    def common(q, timeout: bool = True) -> None:
        q.add_argument("--json", action="store_true", help="print the result as JSON")
        if timeout:
            q.add_argument(
                "--timeout", type=_positive_float, default=10.0, metavar="S", help="seconds"
            )

    n = dsub.add_parser("nodes", help="list, add or remove DICOM nodes; this station's settings")
    n.set_defaults(func=cmd_nodes, nodes_action=None)
    common(n, timeout=False)
    nsub = n.add_subparsers(dest="nodes_action", metavar="ACTION")
    lst = nsub.add_parser("list", help="the nodes and this station")
    common(lst, timeout=False)
    add = nsub.add_parser("add", help="add a node (--replace: change the one of that name)")
    add.add_argument("name")
    add.add_argument("ae_title", metavar="AE_TITLE")
    add.add_argument("host")
    add.add_argument("port", type=int)
    add.add_argument("--retrieve", choices=("get", "move"), default="get")
    add.add_argument(
        "--replace", action="store_true", help="change the node of that name (any case)"
    )
    common(add, timeout=False)
    rm = nsub.add_parser("remove", help="remove a node")
    rm.add_argument("name")
    common(rm, timeout=False)
    loc = nsub.add_parser("local", help="this station: AE title, receive port, allowed senders")
    loc.add_argument("--ae-title")
    loc.add_argument("--port", type=int)
    loc.add_argument("--allow", nargs="+", metavar="AE", help="calling AE titles to accept")
    loc.add_argument("--folder", help="the study folder (retrieved and received studies)")
    loc.add_argument("--receive", choices=("on", "off"), help="the receiver in the app")
    common(loc, timeout=False)

    e = dsub.add_parser("echo", help="verify a node (C-ECHO)")
    e.add_argument("node", help=NODE_HELP)
    e.set_defaults(func=cmd_echo)
    common(e)

    f = dsub.add_parser("find", help="query a node (C-FIND): studies, or the series of --study")
    f.add_argument("node", help=NODE_HELP)
    f.add_argument("--patient-name", help="wildcards * and ? allowed")
    f.add_argument("--patient-id")
    f.add_argument("--accession")
    f.add_argument(
        "--date",
        metavar="FROM-TO",
        help="one day or FROM-TO: YYYYMMDD or YYYY-MM-DD, either side may be empty",
    )
    f.add_argument("--modality")
    f.add_argument("--description")
    f.add_argument("--study", metavar="UID", help="list the series of this study")
    f.add_argument("--limit", type=positive_int, default=5000, help="stop after N matches")
    f.set_defaults(func=cmd_find)
    common(f)

    g = dsub.add_parser("get", help="retrieve a study or series (C-GET, else C-MOVE)")
    g.add_argument("node", help=NODE_HELP)
    g.add_argument("--study", required=True, metavar="UID")
    g.add_argument("--series", metavar="UID")
    g.add_argument("--method", choices=("get", "move"), help="default: the node's setting")
    g.add_argument("--to", metavar="DIR", help="study folder (default: the configured one)")
    g.set_defaults(func=cmd_get)
    common(g)

    s = dsub.add_parser("send", help="send files or folders to a node (C-STORE)")
    s.add_argument("node", help=NODE_HELP)
    s.add_argument("paths", nargs="+", metavar="PATH", help="DICOM files or folders to send")
    s.set_defaults(func=cmd_send)
    common(s)

    r = dsub.add_parser("receive", help="receive studies in the foreground (C-STORE SCP)")
    r.add_argument("--port", type=int)
    r.add_argument("--ae-title")
    r.add_argument("--bind", metavar="ADDRESS", help="listen on this address only")
    r.add_argument("--allow", nargs="+", metavar="AE", help="calling AE titles to accept")
    r.add_argument("--to", metavar="DIR", help="study folder (default: the configured one)")
    r.set_defaults(func=cmd_receive)
    common(r, timeout=False)
