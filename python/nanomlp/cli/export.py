"""``nanomlp export``: a saved model as ONNX or safetensors (PyTorch's names)."""

from __future__ import annotations

import argparse
from typing import Any

from . import _common as c
from ._types import int_at_least


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    export = commands.add_parser(
        "export",
        parents=parents,
        help="write a saved model as ONNX or safetensors",
        description="Write a model saved by 'nanomlp train' (or MLP.save) as ONNX (input "
        "'input', output 'output', batch dimension dynamic; opset 17 and IR 8 load in "
        "onnxruntime >= 1.13) or as safetensors under the names of the equivalent "
        "torch.nn.Sequential ('0.weight' [out, in], '0.bias', '2.weight', ...).",
    )
    export.add_argument("model", metavar="MODEL.npz", help="the model file")
    export.add_argument("--format", choices=("onnx", "safetensors"), required=True)
    export.add_argument("-o", "--output", metavar="FILE", required=True, help="the file to write")
    export.add_argument(
        "--opset", type=int_at_least(13), default=None, help="ONNX opset (default: 17)"
    )
    export.add_argument(
        "--logits",
        action="store_true",
        help="ONNX: output the logits, not the probabilities",
    )
    export.set_defaults(handler=run, command_parser=export)
    return export


def run(args: argparse.Namespace) -> int:
    model = c.load_model(args.model)
    if args.format == "onnx":
        model.to_onnx(args.output, opset=args.opset or 17, probabilities=not args.logits)
    else:
        if args.logits or args.opset is not None:
            args.command_parser.error("--logits and --opset are for --format onnx")
        from ..interop.safetensors import save_safetensors

        save_safetensors(model, args.output)
    c.echo(f"Wrote {args.output} ({args.format}, layers {'-'.join(map(str, model.layer_sizes))})")
    return 0
