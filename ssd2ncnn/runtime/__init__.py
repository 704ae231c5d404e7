"""Running a converted model folder with ncnn: loading the net (`net`), pre-processing as the deployed
apps do it with ncnn's own resize (`preprocess`), reading images (`images`), detections on PIL images
(`detector`) and drawing them (`draw`). Meant to need ncnn, numpy and Pillow only (docs/architecture.md)."""
