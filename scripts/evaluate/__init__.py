"""Evaluation of scenes images: attribute classifier (classifier.py, train_classifier.py) and
prompt fidelity / Frechet distance (fidelity.py). Needs torch."""
