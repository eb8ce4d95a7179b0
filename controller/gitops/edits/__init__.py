"""YAML edits in a checked-out repository: markers, scalar splicing, ImagePolicy quarantine,
and what each write-back intent changes (:mod:`.apply`). No git and no Kubernetes here."""
