"""A small, safe subset of Go's ``text/template``, for ``spec.gitops.commit.messageTemplate``.

``syntax`` parses (validation uses it before any write-back), ``evaluate`` renders over plain
data, ``values`` holds Go's printing, truth and the functions. Import the modules by path; this
package is an implementation detail of the API's validation and of the Git write-back, not part
of ``controller.api``'s re-exported surface.
"""

__all__: list[str] = []
