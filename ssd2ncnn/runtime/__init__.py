"""Running a converted model folder with ncnn: loading the net (`net`), pre-processing as trained
(`preprocess`), reading images (`images`), detections on PIL images (`detector`) and drawing them (`draw`).
Meant to need ncnn, numpy and Pillow only (docs/architecture.md)."""
