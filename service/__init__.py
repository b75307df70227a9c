"""rmserve's HTTP server (settings, app, API, scorer, batcher, backends, metrics) and the `rmserve` CLI."""
