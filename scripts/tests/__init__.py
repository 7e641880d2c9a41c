"""All Python tests: `python3 -m pytest -q scripts/tests` from the repository root."""
