"""Test-wide settings: never reach a model hub; keep the real encoder cache shared."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
