"""Proving a converted model: ncnn against PyTorch (and the ONNX in onnxruntime) tensor by tensor and
detection by detection, with named tolerances (`tolerances`), inputs (`inputs`), golden fixtures
(`golden`) and the report."""
