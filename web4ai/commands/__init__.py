"""The CLI's commands beyond tasks and nodes (``web4ai keys``, ``join-tokens``,
``status``, ``config``, ``control``) and its table output."""
