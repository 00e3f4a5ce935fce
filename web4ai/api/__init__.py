"""The REST and WebSocket API (aiohttp on 9000, websockets on 9001) over the watch cache."""
