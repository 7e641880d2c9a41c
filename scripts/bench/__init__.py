"""Benchmarks and measurement reproductions (`python3 -m scripts.bench.NAME`):
against onnxruntime, between builds, tract gaps, the watermark, real-size
SD pipelines and their FLOPs and peak memory."""
