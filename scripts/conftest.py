# Puts scripts/ on sys.path so tests can `import scenes` (python3 -m pytest scripts/tests).
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
