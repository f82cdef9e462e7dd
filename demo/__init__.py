"""The one-command demo: see run.py."""
