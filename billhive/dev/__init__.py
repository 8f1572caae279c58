"""Development-only parts: `billhive dev` (the supervisor, the embedded Redis server, the
demo merchants). Nothing in production imports this package."""
