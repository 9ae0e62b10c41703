"""The ONNX spiking IR (DESIGN.md section 6, rung 3; ``docs/ir.md``).

A hardware graph becomes an ONNX model of **one time step** with explicit state inputs and
outputs; every node is an op of the custom domain ``ai.spikefold`` defined by a model-local
function of standard ops, so the file is both a readable IR and a model onnxruntime runs.

* :func:`export_onnx` / :func:`save_onnx` — graph -> ModelProto -> file (atomic);
* :func:`import_onnx` / :func:`load_onnx` / :func:`check_model` — back, with every check;
* :func:`run_onnx` / :class:`StepModel` — the time loop in onnxruntime or onnx.reference;
* :func:`rung3` — hwsim ↔ ONNX, the verification ladder's rung 3.
"""

from exporters.onnx.export import IR_VERSION, export_onnx, save_onnx, state_specs
from exporters.onnx.importer import ModelInfo, check_model, import_onnx, load_onnx
from exporters.onnx.ops import DOMAIN, OPS, OPSET_VERSION
from exporters.onnx.reference_ops import reference_ops
from exporters.onnx.runner import BACKENDS, OnnxRun, StepModel, run_onnx
from exporters.onnx.verify import rung3

__all__ = [
    "BACKENDS",
    "DOMAIN",
    "IR_VERSION",
    "OPS",
    "OPSET_VERSION",
    "ModelInfo",
    "OnnxRun",
    "StepModel",
    "check_model",
    "export_onnx",
    "import_onnx",
    "load_onnx",
    "reference_ops",
    "run_onnx",
    "rung3",
    "save_onnx",
    "state_specs",
]
