"""The Litestar HTTP API: app factory, tracking middleware, controllers, error table."""
