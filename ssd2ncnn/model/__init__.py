"""The bundled PyTorch model: MobileNetV3-Large SSDLite, priors, box coding, reference post-processing."""
