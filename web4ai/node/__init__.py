"""The reference node: registers, heartbeats, long-polls and runs tasks."""
