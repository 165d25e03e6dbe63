"""Normalizing flows: invertible layers (layers.py), variational dequantization (dequantize.py) and the
multi-scale Glow-style `flow` family (model.py); docs/FLOWS.md."""
