"""The pages' widgets and helpers, reachable on :class:`FinetuneDialog` under the names they
had when the dialog was one class (tests and the screenshot script read them there):
``dialog.epochs_spin`` is ``dialog.options_page.epochs_spin``."""

from __future__ import annotations


def _forward(path: str, name: str) -> property:
    """A read-only property for ``self.<path>.<name>`` (``path`` may be dotted)."""

    def get(self):
        obj = self
        for part in path.split("."):
            obj = getattr(obj, part)
        return getattr(obj, name)

    return property(get, doc=f"``self.{path}.{name}``")


FORWARDED = {
    "data_page": (
        "add_data_folder add_folder_button annotator_list annotators base_box base_info "
        "check_button check_progress class_list data_folders error_label filters fold_spin "
        "folder_list kfold_spin label_set_box left_out_classes mapping_box plan_box "
        "plan_placeholder remove_folder_button review_box set_annotators set_base set_left_out "
        "single_patient_check single_patient_warning split_options split_seed store_label val_spin"
    ),
    "data_page.mapping_box": (
        "add_classes_radio apply_mapping_button map_combos map_radio mapping_form mapping_text "
        "offered_classes set_mapping"
    ),
    "data_page.plan_box": (
        "counts_table data_counts missing_label missing_list plan_summary plan_warnings"
    ),
    "options_page": (
        "advanced_box advanced_check augment_check batch_spin defaults_button epochs_spin "
        "head_epochs_spin loss_box lr_spin mode_box mode_help monitor_box optimizer_box options "
        "options_summary patience_spin restore_defaults seed_spin set_options smoothing_spin "
        "train_device_box wd_spin"
    ),
    "training_page": (
        "batch_curve best_marker cancel_button eta_label log_view loss_plot metric_curve "
        "metric_plot snapshot_note train_curve train_progress training_outcome val_curve"
    ),
    "result_page": (
        "activate_button base_cm_title base_confusion base_reliability card_button class_table "
        "export_button keep_button metric_columns metrics_table new_cm_title new_confusion "
        "new_reliability reliability_legend reliability_plot result_notes result_status "
        "result_title"
    ),
}
"""Attribute path on the dialog -> the names forwarded from it."""


def with_page_attributes(cls):
    """Class decorator: add :data:`FORWARDED` to ``cls`` as read-only properties."""
    for path, names in FORWARDED.items():
        for name in names.split():
            if hasattr(cls, name):
                raise TypeError(f"{cls.__name__}.{name} exists: it cannot also forward to {path}")
            setattr(cls, name, _forward(path, name))
    return cls


__all__ = ["FORWARDED", "with_page_attributes"]
