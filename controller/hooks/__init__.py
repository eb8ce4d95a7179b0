"""Webhooks and the gates built on them: :mod:`.webhooks` sends Flagger-compatible webhook
payloads; :mod:`.gates` opens and closes confirm/approval gates from their answers."""
