"""The conversion pipeline, one stage per module: export (torch -> ONNX raw head maps), simplify
(onnx-simplifier + an onnxruntime check), pnnx_backend (ONNX -> ncnn), then `convert.py` applies the
`patches` and writes the model folder atomically (`fileio.atomic_dir`). `external_tool` finds and runs the
external programs."""
