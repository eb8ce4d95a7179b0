"""Git plumbing: the hardened git process runner, clones and their cache, a repository's
fetch/commit/push, and credentials from Flux GitRepository Secrets."""
