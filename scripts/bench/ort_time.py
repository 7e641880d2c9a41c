"""Time one f32-input ONNX graph in onnxruntime, the counterpart of
`examples/graph_time.rs` (same input values, same output format):

  python3 -m scripts.bench.ort_time GRAPH.onnx INPUT 1,4,64,64 [RUNS] [THREADS]

Prints the minimum and median milliseconds of RUNS (default 5), after
tract_gap.py's warm-up runs. Needs numpy and onnxruntime."""
import sys

from scripts.bench.tract_gap import ort_time


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    path, _input = argv[0], argv[1]  # the graph's one input, fed by position
    shape = [int(v) for v in argv[2].split(",")]
    runs = int(argv[3]) if len(argv) > 3 else 5
    threads = int(argv[4]) if len(argv) > 4 else 1
    low, median = ort_time(path, [shape], runs, threads)
    print(f"min {low:.1f} ms, median {median:.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
