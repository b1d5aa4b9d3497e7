"""``nanomlp import``: weights from PyTorch (safetensors or a state_dict file) as a model file.

scikit-learn estimators are pickles, and unpickling runs code: they are not read here; use
``MLP.from_sklearn`` on an estimator you trust.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import _common as c


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    from ..losses import LOSSES

    imp = commands.add_parser(
        "import",
        parents=parents,
        help="read PyTorch weights (.safetensors, .pt) into a model file",
        description="Read the weights of a torch.nn.Sequential of Linear layers ('0.weight' "
        "[out, in], '0.bias', ...) from a .safetensors file or a state_dict saved with "
        "torch.save (.pt/.pth, read with torch.load(weights_only=True): no code runs), and "
        "save them as a nanomlp model. Pickled scikit-learn estimators are refused: unpickling "
        "runs code (use MLP.from_sklearn in Python).",
    )
    imp.add_argument("weights", metavar="WEIGHTS", help="a .safetensors, .pt or .pth file")
    imp.add_argument("-o", "--output", metavar="MODEL.npz", required=True)
    imp.add_argument(
        "--activation",
        nargs="+",
        metavar="NAME",
        help="the hidden activations, one or one per hidden layer (required unless the file "
        "was written by nanomlp)",
    )
    imp.add_argument("--loss", choices=LOSSES, help="the output layer (default: cross_entropy)")
    imp.add_argument("--negative-slope", type=float, help="leaky_relu's slope (default 0.01)")
    imp.set_defaults(handler=run, command_parser=imp)
    return imp


def run(args: argparse.Namespace) -> int:
    path = Path(args.weights)
    suffix = path.suffix.lower()
    acts = args.activation
    activation = None if acts is None else acts[0] if len(acts) == 1 else acts
    if suffix in (".pkl", ".pickle", ".joblib"):
        raise c.CommandError(
            f"{path}: pickled files are not read (unpickling runs code); load a scikit-learn "
            "estimator you trust in Python and use MLP.from_sklearn"
        )
    if not path.is_file():
        raise c.CommandError(f"{path}: no such file")
    if suffix == ".safetensors":
        from ..interop.safetensors import load_safetensors

        model = load_safetensors(
            path, activation=activation, loss=args.loss, negative_slope=args.negative_slope
        )
    elif suffix in (".pt", ".pth", ".bin"):
        model = _from_torch_file(path, activation, args.loss, args.negative_slope)
    else:
        args.command_parser.error(f"WEIGHTS must end in .safetensors, .pt or .pth, got {path.name}")
    model.save(args.output)
    c.echo(
        f"Wrote {args.output} (layers {'-'.join(map(str, model.layer_sizes))}, "
        f"activations {', '.join(model.activations) or 'none'}, loss {model.loss})"
    )
    return 0


def _from_torch_file(path: Path, activation: Any, loss: Any, slope: Any) -> Any:
    from ..interop._common import require
    from ..interop.torch import from_torch

    torch = require("torch", "torch")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError for anything but tensors, zip errors ...
        raise ValueError(f"{path}: not a PyTorch state_dict file, or corrupted ({err})") from err
    if not isinstance(state, dict):
        raise ValueError(f"{path}: holds a {type(state).__name__}, expected a state_dict")
    if activation is None:
        raise c.CommandError(
            f"{path}: a state_dict does not say which activations it uses: pass --activation"
        )
    try:
        return from_torch(state, activation=activation, loss=loss, negative_slope=slope)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
