"""The write-back workflow: intents persisted in Canary status, the per-repository worker that
applies them exactly once, commit trailers, approval by pull request and promotion proposals."""
