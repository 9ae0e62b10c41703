"""The file names of a run directory (``runs/<name>/``), defined once.

Plain strings only, no imports: the CLI's command modules import this at argument-parsing time,
so ``spikefold --help`` stays instant. ``docs/architecture.md`` lists what each file holds.
"""

CONFIG = "config.yaml"  # toolchain.pipeline.train_run, spikefold import nir
CHECKPOINT = "checkpoint.pt"  # toolchain.train.fit
METRICS = "metrics.json"  # toolchain.train.fit
GRAPH_FLOAT = "graph.float.npz"  # spikefold fold
FOLD_JSON = "fold.json"  # spikefold fold: probes, design rules
GRAPH_FIXED = "graph.fixed.npz"  # spikefold quantize
QUANTIZE_REPORT = "quantize_report.json"  # spikefold quantize
VERIFY_JSON = "verify.json"  # the verification ladder, one entry per rung
ONNX_MODELS = {"fixed": "model.fixed.onnx", "float": "model.float.onnx"}  # spikefold export onnx
LAVA_JSON = "model.lava.json"  # spikefold export lava
LAVA_FLOAT_JSON = "model.float.lava.json"  # spikefold export lava --float
MODEL_NIR = "model.nir"  # spikefold export nir
NETX_H5 = "model.netx.h5"  # spikefold export netx (lava-dl NetX, the road to Loihi 2)
REPORT_FILES = ("report.json", "report.md", "report.html")  # spikefold report
SUMMARY = "summary.json"  # spikefold run: the headline numbers of every stage
SOURCE_NIR = "source.nir"  # spikefold import nir: the imported file as given
IMPORT_JSON = "import.json"  # spikefold import nir: origin, conventions, decisions
PROVENANCE = "provenance.json"  # toolchain.provenance: what every artifact was made from
LOCK = ".lock"  # toolchain.provenance.run_lock: held while a command writes the run

#: Every file spikefold writes into a run directory (``train --overwrite`` deletes these).
ARTIFACTS = (
    CONFIG,
    CHECKPOINT,
    METRICS,
    GRAPH_FLOAT,
    FOLD_JSON,
    GRAPH_FIXED,
    QUANTIZE_REPORT,
    VERIFY_JSON,
    *ONNX_MODELS.values(),
    LAVA_JSON,
    LAVA_FLOAT_JSON,
    MODEL_NIR,
    NETX_H5,
    *REPORT_FILES,
    SUMMARY,
    SOURCE_NIR,
    IMPORT_JSON,
)
