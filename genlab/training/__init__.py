"""Training: the loop (trainer.py), checkpoints (checkpoint.py), batches, devices and DDP, and the callbacks
the training layer attaches for a model (callbacks.py: the mode-coverage probe)."""
