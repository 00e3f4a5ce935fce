"""Pure domain logic: no I/O, no Kubernetes client, no event loop."""
