"""The operator: node life cycle, the scheduler, task timeouts, retries and callbacks."""
