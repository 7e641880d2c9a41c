"""Small one-off tools (`python3 -m scripts.tools.NAME`)."""
