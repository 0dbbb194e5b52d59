"""The only code that talks to Cloudflare: REST v4, GraphQL Analytics and the Tail WebSocket."""
