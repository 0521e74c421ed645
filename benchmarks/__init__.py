"""uprez's benchmarks: each measures uprez against a baseline in the same run, as a ratio.

Run ``python -m benchmarks [--quick]`` from the repository's root.
"""
