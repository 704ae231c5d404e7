"""Graph rewrites on a parsed `.param` (`ncnn_format.Graph`): the SSD tail from `SSDConfig`
(`ssd_postprocess`), conv + HardSwish fusion (`fuse_activation`) and the tuning passes (`se_pooling`)."""
