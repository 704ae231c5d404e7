"""The conversion pipeline, one stage per module: export (torch -> ONNX raw head maps), simplify
(onnx-simplifier + an onnxruntime check), pnnx_backend (ONNX -> ncnn), then `convert.py` applies the
`patches` and writes the model folder atomically (`outdir`). `tools` finds the external programs."""
