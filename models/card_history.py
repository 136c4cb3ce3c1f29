"""Fixed text of the bundled model's card about how its recipe came to be (the second-head
experiment, the CSF ends, the tilted heads, the earlier weights and the second seed), apart
from ``card.py``,
which lays out the measured numbers. The figures of earlier weights are history: they are
not re-measured by ``make eval-model``.
"""

from __future__ import annotations


def matched(done: dict) -> bool:
    """Whether the weights were trained with the second head made like the real CT."""
    return bool(done.get("second_head")) and done.get("second_head_style") == "matched"


def second_head(done: dict) -> str:
    """The training-data paragraph of the CT-like second head, when it was used."""
    if not done.get("second_head"):
        return ""
    if matched(done):
        return f"""
- Second head (`models/colin_ct.py`, `--second-head matched`, the default): Colin27's T1 MRI
  (MRIcron's `ch2.nii.gz` and `ch2bet.nii.gz`, Debian `mricron-data`, BSD-3:
  `LICENSE-colin27.txt` beside this card) made like the real CT as measured on the CT's
  training slices (`colin_ct.measure_ct`). Its brain is split by T1 intensity into CSF, grey
  and white matter; the CSF gets the real CT's ventricles (-1.8 HU, the lower quartile of
  its deep CSF), grey and white matter (11 HU apart, grey the brighter as on CT) are moved
  together until the parenchyma's median is the real CT's (26.0 HU). A 6 mm skull (~1100
  HU) is laid around the brain, scalp and fat outside it, air around. It is resampled to the
  CT's grid (0.957 mm pixels, 1.5 mm slices), each slice the mean of the volume across its
  thickness (partial volume), and given the real CT's noise: its level (6.6 HU, the median
  parenchyma noise of the training slices) and its texture, the autocorrelation of the
  difference of neighbouring training slices (+0.30 one pixel apart, -0.06 two apart: a
  sharp kernel), reproduced by shaping white noise to that spectrum. It is no CT (the bone
  is geometric, there are no sinuses), but it is another brain: its ventricles, sulci and
  CSF spaces at every level. Lesions go into it as into the CT, and the CSF ends vary it as
  they vary the CT. A share of {100 * done.get("second_head_fraction", 0.35):.0f} % of the training samples come from it, from
  every level; validation and all evaluation use the real CT only."""
    return f"""
- Second head (`models/colin_ct.py`), with `--second-head`: Colin27's T1 MRI (MRIcron's
  `ch2.nii.gz` and `ch2bet.nii.gz`, Debian `mricron-data`, BSD-3: `LICENSE-colin27.txt`
  beside this card) turned into Hounsfield units. Its brain is split by T1 intensity into
  CSF, grey and white matter (8, 38 and 27 HU; on CT grey matter is the brighter), a 6 mm
  skull (~1100 HU) is laid around the brain, scalp and fat outside it, air around; resampled
  to the CT's grid (0.957 mm, 1.5 mm slices) with ~4 HU of CT-like noise. It is no CT (the
  bone is geometric, there are no sinuses), but it is another brain: its ventricles, sulci
  and CSF spaces at every level. Lesions go into it as into the CT. A share of
  {done.get("second_head_fraction", 0.35):.0%} of the training samples come from it, from every level; validation and
  all evaluation use the real CT only."""


def tried_second_head(done: dict) -> str:
    """What was tried: the CT-like second head (its first conversion, and the matched one
    when the shipped weights use it)."""
    if done.get("second_head") and not matched(done):
        return ""
    first = """
- A stand-in for that second head: Colin27's brain MRI made CT-like (`models/colin_ct.py`,
  its first conversion: CSF 8 HU, grey and white matter 38 and 27 HU, smooth ~4 HU noise, a
  plane through each slice), 35 % of the training samples, the recipe otherwise the same
  (seed, split, 40 epochs; lowest validation loss at epoch 20); `python
  models/train_bundled.py train --second-head mri --no-csf-ends --no-tilt --out DIR`
  retrains it (it took ~55 minutes). On the same held-out
  slices, against 2.0.0's first weights (before the CSF ends): macro AUC 0.930 (0.925),
  hypodense AUC 0.883 (0.871), hypodense sensitivity 0.750 (0.523), but normal slices called
  abnormal 0.310 (0.240) and
  the robustness set 0.334 (0.183; kernel 0.40, thickness 0.50, beam hardening 0.41);
  shifted macro AUC 0.935 (0.939), Grad-CAM pointing game for hypodense lesions 0.737
  (0.713), ECE after scaling 0.117 (0.116). It finds more hypodense lesions and raises more
  false alarms, most of all on scanner variation: a likely reason is that an MRI-made head
  has neither a CT's tissue texture nor its partial-volume edges. Not adopted. Tried again on
  the third weights' recipe (CSF ends and tilted heads, `python models/train_bundled.py
  train --second-head mri --out DIR`; 41 minutes, lowest validation loss at epoch 26), with
  the condition for adopting it written down before its figures were read: better on the
  validation slices (hypodense sensitivity 0.775 against 0.700, macro AUC 0.964 against
  0.962) but calling more varied lesion-free validation slices abnormal (0.191 against
  0.175), so not adopted. On the test: macro AUC 0.953, hypodense sensitivity 0.730
  (hypodense AUC 0.915; at <= 5 % of normal slices called abnormal a threshold set on the
  test itself finds 0.600, the third weights 0.520), Grad-CAM pointing game for hypodense
  lesions 0.827, but normal slices called abnormal 0.143 (every normal slice at slices 42
  and 79), robustness set 0.275, ECE after scaling 0.067."""
    if not matched(done):
        return first.replace("the third weights", "these weights")
    return (
        first
        + """
- The same head made like the real CT (these weights; the training-data paragraph above):
  the first conversion's ventricles were 10 HU (the real CT's about 0), as pale as a
  hypodense lesion, and its noise smooth and weaker (4 HU, +0.64 one pixel apart, against
  6.6 HU, +0.30 and -0.06). Its CSF, parenchyma, noise level and texture were measured on the
  real CT's training slices alone, and each slice averaged across its thickness. The reason
  to try it was the first conversion's false alarms on the robustness set (a test figure);
  nothing was fitted to the test. Trained once (44.7 minutes, lowest validation loss at the
  last epoch) with the condition for adopting it written down before its figures were read,
  the same as for the first conversion: on the validation slices hypodense sensitivity 0.795
  (third weights 0.700) and macro AUC 0.971 (0.962), and 0.138 of the 360 varied lesion-free
  validation slices called abnormal (0.175): met, so it was taken to the test, where it meets
  8 of the 10 targets (the third weights 7). It is the first change that moved the trade-off
  itself, not a point along it: hypodense AUC 0.948 (0.911; every variant before 0.89-0.92);
  the best hypodense sensitivity a threshold set on the test itself reaches at <= 5 % of
  normal slices called abnormal is 0.713 (0.520); finding 0.80 of the hypodense lesion
  slices calls 6.7 % of normal slices abnormal (32 %). At the operating point the validation
  slices set it finds 0.803 of them (0.630), and its maps point at them more often (Grad-CAM
  0.867, attention 0.883; 0.757 and 0.770). But that operating point calls more normal slices
  abnormal: 0.110 of the test's (0.067; every normal slice at slices 42 and 75) and 0.198 of
  the robustness set (0.094), most under noise, kernel, HU offset and position: the
  robustness target, met before, is missed. On the sample study it calls 3 of the 108 slices
  abnormal, as the third weights did (42, and 63 and 75 at the levels of the CT's own
  lesion, though pointing beside it). Adopted, on the condition written down before: two
  targets gained (macro AUC, hypodense sensitivity), one lost (the robustness set). Those
  figures came from the sets built from the CT as scanned; from the repaired host (this
  card's tables) they are 0.090 of normal test slices called abnormal (slices 42 and 75 still)
  and 0.213 of the robustness set. Choose the third weights' recipe with `--no-second-head` where false alarms on
  other scanners matter more than the hypodense lesions found."""
    )


def csf_ends(done: dict) -> str:
    """The training-data paragraph of the CSF-end variation, when it was used."""
    if not done.get("csf_ends"):
        return ""
    return """
- Ends of CSF spaces (`ct_variation.csf_end`, training only, normal and lesion slices alike,
  35 % of samples): in one or two discs of 8-20 pixels, a ventricle's or sulcus's CSF is
  cut back from a random side and the rest fades 30-85 % towards the parenchyma around it,
  noise kept: the faint, short CSF space a slice shows where it just touches the end of a
  horn, or a smaller ventricle."""


def tilt(done: dict) -> str:
    """The training-data paragraph of the tilted heads, when they were used."""
    if not done.get("tilt"):
        return ""
    return """
- Head tilted out of the slice plane (`ct_variation.tilted_volume`, training only, 30 % of
  samples): the volume resliced obliquely, as a chin-down or rolled head or a tilted gantry
  cuts it, in 12 tilts (pitch or roll of 4 or 7 degrees, or both of 4), linear between
  slices. Each oblique slice reads only its own training slab (0-24, 45-62 or 83-107), never
  a held-out or buffer slice, and is used only where the whole head stays inside that slab.
  Every structure is then cut at another height on one side than on the other, so ventricles
  and horns end at other places than any axial training slice shows."""


def tried_first(done: dict, t: dict, robustness_abnormal: float) -> str:
    """What was tried: 2.0.0's earlier weights (no CSF ends; CSF ends without the tilted
    heads) and the second seed; with the shipped weights' test figures (``t``) where they
    are the weights described."""
    if not done.get("csf_ends"):
        return ""
    if done.get("tilt"):
        with_csf = """macro AUC 0.955, hypodense sensitivity 0.727, normal slices
  called abnormal 0.200, robustness set 0.233, Grad-CAM pointing game for hypodense lesions
  0.797, ECE after scaling 0.051 (2.0.0's second weights; `--no-second-head --no-tilt`
  reproduces them):
  its 60 test false alarms lay at slices 39, 40 and 42, every normal slice there"""
    else:
        rb = robustness_abnormal
        with_csf = f"""macro AUC {t["auc"]["macro"]:.3f},
  hypodense sensitivity {t["sensitivity"]["hypodense_lesion"]:.3f}, normal slices called
  abnormal {t["false_positive_rate_normal"]:.3f}, robustness set {rb:.3f} (see the slice
  positions below for where the false alarms lie now)"""
    return f"""- This recipe without the ends of CSF spaces (2.0.0's first weights; `--no-second-head
  --no-csf-ends --no-tilt` reproduces them): macro AUC 0.925, hypodense sensitivity 0.523, normal slices
  called abnormal 0.240, robustness set 0.183, Grad-CAM pointing game for hypodense lesions
  0.713, ECE after scaling 0.116. All 72 of its test false alarms lay at slices 40-42, every
  normal slice there: the lower tip of the left occipital horn, a faint slit of CSF in
  partial volume that no training level shows, looked like a hypodense lesion. The CSF-end
  variation was made for that **after looking at where the test's false alarms lay**, so the
  test is no longer blind to this kind of failure. With it: {with_csf}. The same recipe with
  another seed (`--seed 20261207`, measured on these test sets): macro AUC 0.947, hypodense
  sensitivity 0.657, normal slices called abnormal 0.200 (the same three positions),
  robustness set 0.138, Grad-CAM pointing game for hypodense lesions 0.733, ECE after
  scaling 0.060. The gain over the first weights holds for both seeds; the two targets those
  weights just met (macro AUC, the hypodense pointing game) are within what the seed alone
  changes.
{tried_tilt(done, t, robustness_abnormal)}"""


def tried_tilt(done: dict, t: dict, robustness_abnormal: float) -> str:
    """What was tried: the tilted heads, with the shipped weights' figures when they used them."""
    if not done.get("tilt"):
        return ""
    if matched(done):  # the third weights' figures, measured 2026-12-07 (sha256 b579cc...)
        macro, hypo, fpr, rb, pg, ece, hypo_auc = 0.949, 0.630, 0.067, 0.094, 0.757, 0.043, 0.911
        which = "2.0.0's third weights, shipped until the second head below; `--no-second-head`\n  reproduces them"
    else:
        macro, hypo = t["auc"]["macro"], t["sensitivity"]["hypodense_lesion"]
        fpr, rb, ece = t["false_positive_rate_normal"], robustness_abnormal, t["ece"]
        pg = t["pointing_game"]["gradcam"]["by_class"]["hypodense_lesion"]
        hypo_auc, which = t["auc"]["hypodense_lesion"], "these weights"
    return f"""- The same recipe with the head tilted out of the slice plane ({which}): macro AUC
  {macro:.3f}, hypodense sensitivity {hypo:.3f}, normal slices called abnormal
  {fpr:.3f}, robustness set {rb:.3f}, Grad-CAM pointing game for hypodense lesions
  {pg:.3f}, ECE after scaling {ece:.3f}. Patient position was already a variation the issue
  asked for, but this kind of it was chosen, like the CSF ends, **after looking at where the
  test's false alarms lay** (where an oblique cut ends a horn). It ends the false alarms at
  slices 39 and 40; slice 42 stays. It finds fewer hypodense lesions (hypodense AUC
  {hypo_auc:.3f}, was 0.921) at the operating point the validation slices set: a trade of about one
  hypodense lesion slice in ten found for two of every three false alarms on normal slices
  and on the robustness set. Adopted because false alarms are what every reader of a
  normal head meets (on the sample study: 3 of its 108 slices called abnormal,
  the second weights 8), and with it 7 of the 10 targets are met (6 before; the macro AUC is
  now 0.001 under its target).
"""


def tried_on_these_weights(done: dict) -> str:
    """What was tried on these weights and on a bit-identical rerun's epochs (measured
    2026-12-07 with the evaluation's sets; not re-measured by ``make eval-model``)."""
    if not (done.get("csf_ends") and done.get("tilt")):
        return ""
    if done.get("second_head") and not matched(done):
        return ""
    text = """
- On these weights, without retraining: BatchNorm statistics recomputed over 100 fresh
  training batches (instead of the running average of the last ones): validation loss 0.354
  (0.350), test macro AUC 0.948, hypodense sensitivity 0.640, normal slices called abnormal
  0.067, robustness set 0.117; no gain, not adopted. Averaging each slice's evidence with
  that of its left-right mirror image (twice the forward cost): on the test, macro AUC 0.956,
  no normal slice called abnormal (slice 42's false alarm goes), robustness set 0.008, but at
  the operating point the validation slices then set (hypodense offset -3.0) hypodense
  sensitivity 0.527. On the validation slices, the only ones allowed to choose, it is worse
  (loss 0.477 against 0.350, macro AUC 0.950 against 0.961; the epoch was chosen by the
  validation loss without it, which favours going without there), so it was not adopted:
  taking it for its test figures would tune the model on the test.
- A rerun of this recipe keeping every epoch's weights (it ended in these very weights, the
  same SHA-256): five of the six epochs after the chosen one (35-40, learning rate near
  zero) call no test normal slice abnormal (epoch 39: slice 42) but find only 0.50-0.57 of
  the hypodense lesion slices at the operating points their validation slices set; the mean
  of the last 5, 10 or 15 epochs' weights (BatchNorm statistics recomputed): validation loss
  0.773, 0.610 and 0.632 against 0.350, test macro AUC 0.947-0.955, hypodense sensitivity
  0.53-0.60. The hypodense AUC stays 0.91-0.92 in all of them: which of the two targets
  (hypodense lesions found, normal slices left quiet) a set of weights meets turns on the 8
  distinct normal images the validation holds, not on a better model. Not adopted.
- Drawing the classes unequally for training (`--class-shares 0.4,0.2,0.4`: normal and
  hypodense slices twice as often as hyperdense ones, which were found nearly always; chosen
  before looking at the test), the recipe otherwise the same (lowest validation loss at
  epoch 29; 41 minutes). On the validation slices it was better in every figure (loss 0.260
  against 0.350, macro AUC 0.971 against 0.962, hypodense sensitivity 0.765 against 0.700,
  no normal slice called abnormal), which met the condition for adopting it written down
  before its test figures were read. On the test: macro AUC 0.950 (meets its target),
  hypodense sensitivity 0.703, hyperdense 0.983, but normal slices called abnormal 0.173
  (every normal slice at slices 40 and 41; 0.067 missed that target already), robustness
  set 0.186, ECE after scaling 0.069: one target gained, two lost. Its hypodense AUC is 0.915 (0.911), and the best
  hypodense sensitivity a hypodense threshold set on the test itself reaches at <= 5 % of
  normal slices called abnormal is 0.510 (0.520): it ranks hypodense lesions no better, and
  its validation slices placed it at another point of the same trade-off. Even varied
  lesion-free slices of the validation levels did not foretell its false alarms: it calls
  0.106 of 360 of them abnormal, these weights 0.175, the reverse of the test's robustness
  set. Not adopted (the shipped weights stay as they were, so the test chose nothing for
  them).
- Choosing the epoch and the operating point on the validation slices together with 360
  varied lesion-free slices of the validation levels (the robustness families; the
  validation's normal slices alone are 8 unvaried images), on the rerun's epochs of this
  recipe: the lowest loss is then at epoch 31 (validation alone: 34, these weights). On the
  test it calls no normal slice abnormal and 0.006 of the robustness set, but finds 0.387 of
  the hypodense lesion slices (hypodense AUC 0.895, macro AUC 0.939, Grad-CAM pointing game
  for hypodense lesions 0.710, ECE after scaling 0.102). Not adopted: the same trade again,
  towards quiet normal slices. Averaging the evidence of these weights and the unequal
  shares' weights ranks no better on the validation slices than the latter alone (macro AUC
  0.968 against 0.971); it was not taken to the test."""
    if not matched(done):
        return text
    for this, that in (
        ("On these weights, without", "On the third weights, without"),
        ("it ended in these very weights", "it ended in the third weights themselves"),
        ("(validation alone: 34, these weights)", "(validation alone: 34, the third weights)"),
        ("abnormal, these weights 0.175", "abnormal, the third weights 0.175"),
        ("Averaging the evidence of these weights", "Averaging the evidence of the third weights"),
        ("(the shipped weights stay as they were, so the test chose nothing for\n  them)",
         "(the third weights stayed as they were, so the test chose nothing for\n  them)"),
    ):  # fmt: skip
        assert this in text, this
        text = text.replace(this, that)
    return text


def repaired_host(done: dict) -> bool:
    """Whether the weights were trained on the host CT with its own lesion replaced."""
    return done.get("host") == "repaired"


def host_headline(done: dict, hosts: str) -> str:
    """The card's opening caveat about real pathology (``hosts``: what the lesions went into)."""
    if repaired_host(done):
        return (
            f"It was never trained on real pathology: only on synthetic lesions placed into "
            f"{hosts} (that CT's own real lesion replaced by healthy tissue)."
        )
    return (
        f"It was trained on synthetic lesions placed into {hosts}, and to call that CT's own "
        f"real lesion normal (see Training data)."
    )


def host(done: dict) -> str:
    """The training-data paragraph of the host CT's own lesion and its repair."""
    common = """
- The host is not a normal head. Its right frontal lobe holds a chronic hypodense lesion,
  about 35 x 40 mm in plane and 42 mm high (slices 55-82), 9 HU on average against the
  parenchyma's 24, beside a skull defect at slice 84 (encephalomalacia after surgery or
  trauma is the likely reading). The parenchyma mask leaves it out as if it were CSF.
  `medviewer/ai/host_lesion.py` finds it (thresholds, a seed point, morphology; no hand-drawn
  voxels) and replaces it with the mirror image of the healthy left frontal lobe across the
  midline, blended over a few pixels. Validation, the test, the shifted test and the
  robustness set use this repaired host, so their normal slices are normal; the CT as
  scanned, the viewer's sample study, is measured separately (**The host CT's own lesion**,
  below)."""
    if repaired_host(done):
        return (
            common
            + """ These weights were trained on the repaired host (`--host repaired`,
  the default). It was found only at the fourth set of 2.0.0's weights: every earlier one
  trained on the CT as scanned, where every slice through the lesion (training levels 55-62
  and 71) was a "normal" slice, the validation's operating point was set with it in half of
  the validation's normal images (levels 65-68) and the test counted it as normal in half of
  the test's (levels 74-80)."""
        )
    return (
        common
        + """ These weights were trained on the CT as scanned (`--host as-is`): every
  training slice through the lesion (levels 55-62 and 71) was a "normal" slice, and the
  operating point was set on validation slices half of whose normal images (levels 65-68)
  hold it."""
    )


def host_limit(done: dict) -> str:
    """The known-limits line about the one head."""
    if repaired_host(done):
        return """- One head, itself post-operative (its own frontal lesion replaced for training).
  Scanner variation is simulated, not measured: real scanners, children, other
  post-operative heads, motion and metal artefacts are outside what it has seen."""
    return """- One head, itself post-operative, whose own frontal lesion these weights learned to call
  normal. Scanner variation is simulated, not measured: real scanners, children, other
  post-operative heads, motion and metal artefacts are outside what it has seen."""


def tried_repaired_host(done: dict) -> str:
    """What was tried: the recipe on the repaired host (measured 2026-12-07 on these sets; not
    re-measured by ``make eval-model``), when these weights are not those."""
    if repaired_host(done) or not matched(done):
        return ""
    return """
- The same recipe on the repaired host (`--host repaired`; the host's own lesion was
  found after every run above, by looking at where these weights' false alarm at slice
  75 lay: beside it, not on it). Before its figures were read, a condition for adopting
  it was written down: on the repaired host's validation slices, macro AUC no more than
  0.005 and hypodense sensitivity no more than 0.02 below these weights', and no more of
  360 varied lesion-free validation-level slices called abnormal. It failed the first
  two (macro AUC 0.963 against 0.971, hypodense sensitivity 0.705 against 0.785) and met
  the third (0.109 against 0.128), so these weights stay. On the test it meets 9 of the
  10 targets where these weights meet 8: macro AUC 0.972, hyperdense sensitivity 1.000,
  no normal slice called abnormal, robustness set 0.059, Grad-CAM pointing game for
  hypodense lesions 0.897, ECE after scaling 0.047, shifted macro AUC 0.965; but
  hypodense sensitivity 0.740 (hypodense AUC 0.948 against 0.956; the best a threshold
  set on the test itself reaches at <= 5 % of normal slices called abnormal: 0.793
  against 0.757). On the CT as scanned it calls the real frontal lesion hypodense on 20
  of its 28 slices (6 of the 7 test levels), Grad-CAM's maximum on it on 23 and
  attention's on 24, where these weights, taught to call it normal, call 2 of 28. Its
  validation slices put it at the quiet end of the same trade-off again (its operating
  point lowers the hypodense logit by 1.0). Two of the validation's 8 distinct normal
  images decide that: levels 27 and 29, through the fourth ventricle, a small round dark
  spot there that no training level shows (the training slices stop at 24, where it is
  wider and two-lobed, and resume at 33); before the offsets it calls both abnormal
  (p(hypodense) 0.67 and 0.62), and the offset that quiets them costs validation
  hypodense lesions (0.825 found before it, 0.705 after). A second seed (`--seed
  20261207`, a replicate, not a candidate) calls level 28 abnormal instead and lands the
  same way: 9 of 10 targets, no normal test slice called abnormal, robustness set 0.055,
  hypodense sensitivity 0.733, the real lesion called on 21 of 28 slices. Whether its
  finding the real lesion and its quiet normal slices outweigh the hypodense lesions it
  misses is a choice the condition did not make, so it is left to whoever plans the
  model: `python models/train_bundled.py train --host repaired` reproduces it (60.6
  minutes of training here, the first 10 epochs sharing the two cores)."""
