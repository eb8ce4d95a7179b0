"""Write-back to Git: every canary outcome becomes a commit (or a pull request).

The package edits manifests in place (markers), records decisions as intents in the
Canary status and applies them exactly once through a per-repository worker that
drives the git CLI.
"""
