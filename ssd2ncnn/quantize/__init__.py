"""Post-training int8 quantization into ncnn's own int8 format (calibrate.py: activation scales from
images; int8.py: the .bin walker and the int8 Convolution/ConvolutionDepthWise writer)."""
