"""Training: the loop (trainer.py), checkpoints (checkpoint.py), batches, devices and DDP."""
