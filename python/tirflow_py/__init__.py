"""tirflow Python half: trainer, ONNX export, grading, tiny-model pretraining."""
