"""Reward-model code: formatting, loading, preference data, training, evaluation and ONNX export."""
