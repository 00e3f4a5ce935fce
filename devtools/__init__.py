"""Development tools (not shipped in the wheel or the image): the local control plane
behind `make run`, the tests and the benchmarks."""
