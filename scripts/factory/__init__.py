"""The model factory that trains the shipped models/scenes bundle
(`python3 -m scripts.factory.build`; see README.md here)."""
