"""The label store's history: undo / redo per actor, and the states a label went through.

Every change is appended to the ``history`` table (``before`` holds only the fields the action
changed); ``undo_stack`` lists each actor's undoable and redoable entries. Undo and redo
restore only the parts of a label the action changed (the label, its review, its evidence),
and only where nobody changed them since.
"""

from __future__ import annotations

import json

from medviewer.labels.migrations import STATE_FIELDS
from medviewer.labels.schema import Region, SliceKey
from medviewer.labels.store_checks import check_name
from medviewer.labels.store_rows import STATE_COLUMNS, before_state, key_params, now_utc

# Parts of an annotation that undo/redo restore as a whole: the label itself, its review,
# its evidence region.
UNDO_GROUPS = (
    (
        "active",
        "label",
        "scope",
        "source",
        "model_name",
        "model_version",
        "model_sha256",
        "status",
        "created_at",
        "label_set",
        "path_hint",
    ),
    ("review", "reviewer", "comment"),
    ("region_x0", "region_y0", "region_x1", "region_y1"),
)


class UndoHistory:
    """Undo, redo and history of a LabelStore (mixed into it; writes with its
    :meth:`_write_state`)."""

    def _step(self, actor: str, kind: str) -> SliceKey | None:
        """Undo (kind 'undo') or redo the actor's last action; returns its key."""
        actor = check_name("annotator", actor)
        pick = "max" if kind == "undo" else "min"
        with self.transaction(f"{kind} the last labeling action"):
            conn = self.conn
            hid = conn.execute(
                f"SELECT {pick}(history_id) FROM undo_stack WHERE actor = ? AND kind = ?",
                (actor, kind),
            ).fetchone()[0]
            if hid is None:
                return None
            aid, before, after = conn.execute(
                "SELECT annotation_id, before, after FROM history WHERE id = ?", (hid,)
            ).fetchone()
            new_state = json.loads(after)
            old_state = before_state(before, new_state)
            if kind == "redo":
                old_state, new_state = new_state, old_state
            row = conn.execute(
                f"SELECT study_uid, series_uid, sop_uid, frame, annotator, {STATE_COLUMNS}"
                " FROM annotations WHERE id = ?",
                (aid,),
            ).fetchone()
            key = SliceKey(row[0], row[1], row[2], row[3] or None)
            current = dict(zip(STATE_FIELDS, row[5:]))
            # Only the parts that action changed go back, and only where nobody changed them
            # since: undoing an old label never wipes a later review, import or relabel.
            restored = dict(current)
            for group in UNDO_GROUPS:
                changed = any(old_state[f] != new_state[f] for f in group)
                untouched = all(current[f] == new_state[f] for f in group)
                if changed and untouched:
                    restored.update({f: old_state[f] for f in group})
            restored["updated_at"] = now_utc()
            self._write_state(
                key,
                row[4],
                (aid, current),
                restored,
                action=kind,
                actor=actor,
                target=hid,
                undoable=False,
            )
            other = "redo" if kind == "undo" else "undo"
            conn.execute(
                "DELETE FROM undo_stack WHERE actor = ? AND kind = ? AND history_id = ?",
                (actor, kind, hid),
            )
            conn.execute("INSERT INTO undo_stack VALUES (?, ?, ?)", (actor, other, hid))
            return key

    def undo(self, *, annotator: str) -> SliceKey | None:
        """Undo ``annotator``'s last action (set, clear, review, region, status); returns the
        key it touched, or None when there is nothing to undo."""
        return self._step(annotator, "undo")

    def redo(self, *, annotator: str) -> SliceKey | None:
        """Redo the last undone action (a new action clears what can be redone)."""
        return self._step(annotator, "redo")

    def can_undo(self, *, annotator: str) -> bool:
        return bool(
            self._read(
                "SELECT 1 FROM undo_stack WHERE actor = ? AND kind = 'undo' LIMIT 1", (annotator,)
            )
        )

    def can_redo(self, *, annotator: str) -> bool:
        return bool(
            self._read(
                "SELECT 1 FROM undo_stack WHERE actor = ? AND kind = 'redo' LIMIT 1", (annotator,)
            )
        )

    def history(self, key: SliceKey, *, annotator: str | None = None) -> list[dict]:
        """Every state the key's annotation(s) went through, oldest first.

        Each entry: ``action`` (set, clear, region, review, status, undo, redo, import,
        migrate), ``at``, ``by`` (who acted), ``annotator`` (whose label), ``label`` (None
        once cleared), ``previous_label``, ``status``, ``review``, ``reviewer``, ``comment``,
        ``source``, ``model`` and ``region`` after the action.
        """
        sql = (
            "SELECT h.id, h.action, h.at, h.actor, a.annotator, h.target, h.before, h.after"
            " FROM history h JOIN annotations a ON a.id = h.annotation_id"
            " WHERE a.series_uid = ? AND a.sop_uid = ? AND a.frame = ? AND a.study_uid = ?"
        )
        params: tuple = key_params(key)
        if annotator is not None:
            sql += " AND a.annotator = ?"
            params += (annotator,)
        out = []
        for hid, action, at, actor, owner, target, before, after in self._read(
            sql + " ORDER BY h.id", params
        ):
            a = json.loads(after)
            b = before_state(before, a)
            model = f"{a['model_name']}:{a['model_version']}" if a["model_name"] else ""
            region = None
            if a["region_x0"] is not None:
                region = Region(a["region_x0"], a["region_y0"], a["region_x1"], a["region_y1"])
            out.append(
                {
                    "id": hid,
                    "action": action,
                    "at": at,
                    "by": actor,
                    "annotator": owner,
                    "target": target,
                    "label": a["label"] if a["active"] else None,
                    "previous_label": b["label"] if b["active"] else None,
                    "status": a["status"],
                    "review": a["review"],
                    "reviewer": a["reviewer"],
                    "comment": a["comment"],
                    "source": a["source"],
                    "model": model,
                    "region": region,
                }
            )
        return out
