"""Proving a converted model: ncnn against PyTorch (and the ONNX in onnxruntime) tensor by tensor and
detection by detection. `parity` runs it (one `case` per input and size, the PyTorch side from
`model.reference`, onnxruntime from `onnx_heads`, the lowered-threshold net from `lowered`), judged by
`compare` and the tie-aware `detections` within `tolerances`; `verdict` holds the result and
`console_report` prints it. Inputs come from `verify_images`; `golden` and `check` (`folder_check`) work
without a checkpoint's twin run."""
