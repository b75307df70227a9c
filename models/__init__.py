"""Reward-model code: formatting, loading, data, training, evaluation, ONNX export and the scoring runtime."""
