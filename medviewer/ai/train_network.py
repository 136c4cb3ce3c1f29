"""The network being fine-tuned: its last linear layer (found, grown for new classes), the
training stages of each mode, the optimizer and the loss.

Modes: ``probe`` trains only the head, ``full`` everything, ``two_stage`` the head for
``head_epochs`` and then all layers at a tenth of the learning rate.
"""

from __future__ import annotations

import numpy as np

from medviewer.ai.train_options import TrainOptions
from medviewer.errors import ModelError

FOCAL_GAMMA = 2.0


def find_head(net, n_classes: int) -> tuple[str, object]:
    """The last ``nn.Linear`` giving ``n_classes`` outputs: (dotted name, module)."""
    from torch import nn

    found = None
    for name, module in net.named_modules():
        if isinstance(module, nn.Linear) and module.out_features == n_classes:
            found = (name, module)
    if found is None:
        raise ModelError(
            f"no final linear layer with {n_classes} outputs found in the network; this "
            "architecture cannot be fine-tuned here"
        )
    return found


def grow_head(net, n_old: int, n_new: int, seed: int = 0) -> None:
    """Replace the last linear layer by one with ``n_new`` outputs; rows ``0..n_old-1`` are
    copied exactly, the new rows start small (seeded)."""
    import torch
    from torch import nn

    name, old = find_head(net, n_old)
    if n_new == n_old:
        return
    new = nn.Linear(old.in_features, n_new, bias=old.bias is not None)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        new.weight.copy_(torch.randn(n_new, old.in_features, generator=g) * 0.01)
        new.weight[:n_old] = old.weight
        if old.bias is not None:
            new.bias.zero_()
            new.bias[:n_old] = old.bias
            new.bias[n_old:] = old.bias.min()
    new.to(old.weight.device)
    parent_name, _, attr = name.rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    setattr(parent, attr, new)


def stages_of(o: TrainOptions) -> list[tuple[str, int, float]]:
    """(``"head"`` or ``"all"``, epochs, learning rate) of each stage of ``o.mode``."""
    if o.mode == "probe":
        return [("head", o.epochs, o.lr)]
    if o.mode == "full":
        return [("all", o.epochs, o.lr)]
    head = min(o.head_epochs, o.epochs)
    out = [("head", head, o.lr)] if head else []
    if o.epochs - head > 0:
        out.append(("all", o.epochs - head, o.lr / 10.0))
    return out


def make_optimizer(params, o: TrainOptions, lr: float):
    """AdamW, or SGD with momentum 0.9, over ``params``."""
    import torch

    if o.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=o.weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=o.weight_decay)


def loss_function(options: TrainOptions, train_counts: np.ndarray, device):
    """``loss(logits, y)``: cross-entropy (weighted by inverse class frequency for
    ``ce_weighted``, with label smoothing) or focal loss."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    weight = None
    if options.loss == "ce_weighted":
        present = train_counts > 0
        w = np.ones(len(train_counts))
        w[present] = train_counts[present].sum() / (present.sum() * train_counts[present])
        weight = torch.tensor(w, dtype=torch.float32, device=device)
    smoothing = float(options.label_smoothing)

    if options.loss == "focal":

        def focal(logits, y):
            logp = F.log_softmax(logits.float(), dim=1)
            lp = logp.gather(1, y[:, None])[:, 0]
            return (-((1.0 - lp.exp()) ** FOCAL_GAMMA) * lp).mean()

        return focal

    def ce(logits, y):
        return F.cross_entropy(logits.float(), y, weight=weight, label_smoothing=smoothing)

    return ce
