"""Detection data sets as plain records (VOC, COCO, the synthetic shapes set) and the VOC mAP metric.
Shared by training, evaluation and verify; needs numpy and Pillow, not torch."""
