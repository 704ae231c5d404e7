"""Training an SSDLite detector from a data set (`ssd2ncnn.data`): augmentation, prior matching, the
multibox loss, the loop with evaluation and checkpoints, backbone weights and multi-process training."""
