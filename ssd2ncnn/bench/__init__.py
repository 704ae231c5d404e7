"""Speed measurements: engines (ncnn, onnxruntime, PyTorch), a block-rotating timer, peak-memory probes in
subprocesses, graph rewrite passes for tuning, and the report (rich table + JSON)."""
