"""Reading Flux: which Kustomization or HelmRelease applied a target (:mod:`.correlation`,
:mod:`.helm`) and the image automation objects that propose tags (:mod:`.images`)."""
