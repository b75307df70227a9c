"""POST /v1/score_steps: a process reward model's per-step scores (router, protocol, serving)."""
