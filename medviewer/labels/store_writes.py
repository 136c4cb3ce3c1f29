"""Writing annotations: set, clear, evidence region, status, import; one transaction each.

:meth:`AnnotationWrites._write_state` is the one place a state is stored: it updates (or
inserts) the key's row for the annotator, appends the change to ``history`` and, for the
actor's own actions, to their undo stack (at most :data:`UNDO_DEPTH` deep).
"""

from __future__ import annotations

from typing import Any

from medviewer.errors import LabelStoreError
from medviewer.labels.migrations import STATE_FIELDS
from medviewer.labels.schema import (
    REVIEWS,
    SOURCES,
    STATUSES,
    Annotation,
    ModelRef,
    Region,
    SliceKey,
)
from medviewer.labels.store_checks import check_choice, check_key, check_name, check_region
from medviewer.labels.store_rows import dumps_state, now_utc, region_fields, state_of

UNDO_DEPTH = 1000


class AnnotationWrites:
    """The mutating calls of a LabelStore (mixed into it; runs in its transactions)."""

    def _write_state(
        self,
        key: SliceKey,
        annotator: str,
        found: tuple[int, dict] | None,
        new: dict[str, Any],
        *,
        action: str,
        actor: str,
        target: int | None = None,
        undoable: bool = True,
    ) -> int:
        """Store ``new`` as the key's state for ``annotator`` and append the change to the
        history (and to the actor's undo stack). Runs inside a transaction."""
        conn = self.conn
        if found is None:
            cols = ", ".join(STATE_FIELDS)
            marks = ", ".join("?" for _ in STATE_FIELDS)
            cur = conn.execute(
                "INSERT INTO annotations (study_uid, series_uid, sop_uid, frame, annotator, "
                f"{cols}) VALUES (?, ?, ?, ?, ?, {marks})",
                (key.study_uid, key.series_uid, key.sop_uid, key.frame or 0, annotator)
                + tuple(new[f] for f in STATE_FIELDS),
            )
            aid, before = cur.lastrowid, {**new, "active": 0}
        else:
            aid, before = found
            sets = ", ".join(f"{f} = ?" for f in STATE_FIELDS)
            conn.execute(
                f"UPDATE annotations SET {sets} WHERE id = ?",
                tuple(new[f] for f in STATE_FIELDS) + (aid,),
            )
        # ``before`` keeps only the fields that differ from ``after`` (see store_rows.before_state).
        diff = {f: before[f] for f in STATE_FIELDS if before[f] != new[f]}
        hid = conn.execute(
            "INSERT INTO history (annotation_id, action, actor, at, target, before, after)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (aid, action, actor, new["updated_at"], target, dumps_state(diff), dumps_state(new)),
        ).lastrowid
        if undoable:
            conn.execute("DELETE FROM undo_stack WHERE actor = ? AND kind = 'redo'", (actor,))
            conn.execute("INSERT INTO undo_stack VALUES (?, 'undo', ?)", (actor, hid))
            conn.execute(
                "DELETE FROM undo_stack WHERE actor = ? AND kind = 'undo' AND history_id <= ("
                " SELECT history_id FROM undo_stack WHERE actor = ? AND kind = 'undo'"
                " ORDER BY history_id DESC LIMIT 1 OFFSET ?)",
                (actor, actor, UNDO_DEPTH),
            )
        return aid

    @staticmethod
    def _changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
        return any(old[f] != new[f] for f in STATE_FIELDS if f != "updated_at")

    def set_label(
        self,
        key: SliceKey,
        label: str,
        *,
        annotator: str,
        scope: str = "slice",
        source: str = "human",
        model: ModelRef | None = None,
        region: Region | None = None,
        status: str = "final",
        label_set: str = "headct-lesions",
        path_hint: str = "",
        comment: str | None = None,
    ) -> Annotation:
        """Give ``key`` the label ``label`` from ``annotator`` (one transaction).

        Setting it again updates the annotation: ``created_at`` is kept, the old state goes to
        the history. A changed label drops its review (it judged the old label). ``region``
        None keeps the evidence already drawn (:meth:`set_region` clears it); ``comment`` None
        keeps the comment. Setting exactly what is there changes nothing.
        """
        annotator = check_name("annotator", annotator)
        if not isinstance(label, str) or not label.strip():
            raise LabelStoreError(f"the label of {key} is empty; choose a class")
        label = label.strip()
        check_key(key, scope)
        check_choice("source", source, SOURCES)
        check_choice("status", status, STATUSES)
        if source == "model" and (model is None or not model.name):
            raise LabelStoreError(
                "a label accepted from a model needs the model's name, version and sha256"
            )
        if source == "human" and model is not None:
            raise LabelStoreError(
                f"a human label carries no model (got {model}); use source='model' for an "
                "accepted suggestion"
            )
        check_region(region)
        with self.transaction("save the label"):
            found = self._row(key, annotator)
            now = now_utc()
            old = found[1] if found else None
            if old is not None and old["active"]:
                new = dict(old)
                if old["label"] != label:
                    new.update(review="", reviewer="", comment="")
            else:
                new = {f: "" for f in STATE_FIELDS}
                new.update(region_fields(None), created_at=now, review="")
            new.update(
                active=1,
                label=label,
                scope=scope,
                source=source,
                model_name=model.name if model else "",
                model_version=model.version if model else "",
                model_sha256=model.sha256 if model else "",
                status=status,
                label_set=label_set or "",
                path_hint=path_hint or (old["path_hint"] if old else ""),
                updated_at=now,
            )
            if region is not None:
                new.update(region_fields(region))
            if comment is not None:
                new["comment"] = comment
            if old is not None and old["active"] and not self._changed(old, new):
                return self._get(found[0])
            aid = self._write_state(key, annotator, found, new, action="set", actor=annotator)
            return self._get(aid)

    def _edit(
        self, key: SliceKey, annotator: str, action: str, actor: str, changes: dict, what: str
    ) -> Annotation:
        """Change fields of an existing current annotation (one transaction)."""
        with self.transaction(what):
            found = self._row(key, annotator)
            if found is None or not found[1]["active"]:
                raise LabelStoreError(
                    f"could not {what}: {annotator} has no label on {key}; label it first"
                )
            aid, old = found
            new = {**old, **changes}
            if not self._changed(old, new):
                return self._get(aid)
            new["updated_at"] = now_utc()
            self._write_state(key, annotator, found, new, action=action, actor=actor)
            return self._get(aid)

    def clear_label(self, key: SliceKey, *, annotator: str) -> bool:
        """Remove ``annotator``'s label of ``key`` (kept in the history; undo brings it
        back). False when there was none."""
        annotator = check_name("annotator", annotator)
        with self.transaction("clear the label"):
            found = self._row(key, annotator)
            if found is None or not found[1]["active"]:
                return False
            new = {**found[1], "active": 0, "updated_at": now_utc()}
            self._write_state(key, annotator, found, new, action="clear", actor=annotator)
            return True

    def set_region(self, key: SliceKey, *, annotator: str, region: Region | None) -> Annotation:
        """Attach (or with None remove) the evidence rectangle of a label."""
        annotator = check_name("annotator", annotator)
        check_region(region)
        return self._edit(
            key, annotator, "region", annotator, region_fields(region), "save the evidence"
        )

    def set_status(self, key: SliceKey, *, annotator: str, status: str) -> Annotation:
        """Mark a label ``draft`` or ``final``."""
        annotator = check_name("annotator", annotator)
        check_choice("status", status, STATUSES)
        return self._edit(
            key, annotator, "status", annotator, {"status": status}, "change the status"
        )

    def import_annotation(self, ann: Annotation) -> Annotation:
        """Write a complete annotation (from an import file) as the current state of its key
        and annotator, times and provenance as given; recorded in the history as ``import``
        and not on anyone's undo stack. Use inside :meth:`transaction` for bulk imports."""
        annotator = check_name("annotator", ann.annotator)
        check_key(ann.key, ann.scope)
        check_choice("source", ann.source, SOURCES)
        check_choice("status", ann.status, STATUSES)
        check_choice("review", ann.review, REVIEWS)
        check_region(ann.region)
        with self.transaction("import the label"):
            found = self._row(ann.key, annotator)
            new = state_of(ann)
            aid = self._write_state(
                ann.key, annotator, found, new, action="import", actor=annotator, undoable=False
            )
            return self._get(aid)
