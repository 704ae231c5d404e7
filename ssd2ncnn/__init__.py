"""ssd2ncnn: PyTorch MobileNetV3-SSDLite to ncnn, with the SSD post-processing written from the model's config."""

__version__ = "0.1.0"
