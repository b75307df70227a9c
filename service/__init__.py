"""rmserve's HTTP service: settings, batcher, backends, API routes, metrics, client and CLI."""
