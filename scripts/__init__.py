"""edgepaint's Python side, one package per room (docs/architecture.md, "Scripts").
Run entry points as modules from the repository root: `python3 -m scripts.ROOM.NAME`."""
