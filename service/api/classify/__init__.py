"""vLLM's classification route, `POST /classify`, as verl's reward loop calls it (router, protocol, serving)."""
