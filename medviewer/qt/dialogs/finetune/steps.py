"""The dialog's four steps and what each allows: which page Back and Next lead to, and which
buttons are shown and enabled in a given state (pure functions, no Qt)."""

from __future__ import annotations

from dataclasses import dataclass

STEPS = ("1  Data", "2  Options", "3  Training", "4  Result")
DATA, OPTIONS, TRAINING, RESULT = range(len(STEPS))

TRAIN_TIP = "Start fine-tuning with these data and options"
TRAIN_TIP_NO_PLAN = "Check the data first: training needs a usable plan"


def back_target(page: int) -> int | None:
    """The page Back leads to (None: Back does nothing). From a run that was cancelled or
    failed, Back leads to the options, to train again."""
    return {OPTIONS: DATA, TRAINING: OPTIONS, RESULT: TRAINING}.get(page)


def next_target(page: int, *, plan_ready: bool, has_result: bool) -> int | None:
    """The page Next leads to: Options once the data is checked, Result once trained."""
    if page == DATA and plan_ready:
        return OPTIONS
    if page == TRAINING and has_result:
        return RESULT
    return None


@dataclass(frozen=True)
class Buttons:
    """Which of the dialog's buttons show and are enabled, and their changing texts."""

    back_visible: bool
    back_enabled: bool
    next_visible: bool
    next_enabled: bool
    train_visible: bool
    train_enabled: bool
    train_tip: str
    check_enabled: bool
    check_text: str
    cancel_enabled: bool
    inputs_enabled: bool
    """The data page's choices (base model, filters): fixed while training."""
    result_enabled: bool
    """Keep current, Model card: there is a result."""
    activate_enabled: bool
    activate_text: str
    export_enabled: bool


def buttons(
    page: int,
    *,
    plan_ready: bool,
    training: bool,
    checking: bool,
    cancelling: bool,
    has_result: bool,
    activated: bool,
    exporting: bool,
    defaults_set: bool,
) -> Buttons:
    """The buttons in this state. ``defaults_set``: the training core is loaded and the
    options hold its defaults (checking needs the core)."""
    return Buttons(
        back_visible=page in (OPTIONS, RESULT) or (page == TRAINING and not has_result),
        back_enabled=not training,
        next_visible=page in (DATA, TRAINING),
        next_enabled=(page == DATA and plan_ready and not checking)
        or (page == TRAINING and has_result and not training),
        train_visible=page in (DATA, OPTIONS),
        train_enabled=plan_ready and not training and not checking,
        train_tip=TRAIN_TIP if plan_ready else TRAIN_TIP_NO_PLAN,
        check_enabled=not training and defaults_set,
        check_text="Cancel check" if checking else "Check data",
        cancel_enabled=training and not cancelling,
        inputs_enabled=not training,
        result_enabled=has_result,
        activate_enabled=has_result and not activated,
        activate_text="Activated" if activated else "Activate new model",
        export_enabled=has_result and not exporting,
    )


__all__ = ["Buttons", "STEPS", "back_target", "buttons", "next_target"]
