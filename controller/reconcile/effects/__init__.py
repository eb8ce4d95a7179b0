"""The engine's effects, one module per kind of request (``controller.reconcile.world`` dispatches).

- ``workloads``: create the primary, readiness of the canary and the primary, scale the canary,
  promote the primary (``InitializePrimary``, ``CheckReady``, ``CheckPrimaryPromoted``,
  ``ScaleCanary``, ``PromotePrimary``);
- ``routes``: the router's objects and weights (``InitializePrimary``, ``SetRoutes``);
- ``metrics``: the metric checks and the templates and Secrets they read (``RunMetricChecks``);
- ``gates``: webhooks, the builtin gates, a manual rollback request and the approval pull request
  (``RunWebhooks``);
- ``notifications``: best-effort Events, event webhooks and alerts (``Notify``): collected while
  the tick decides, recorded and sent only once its status is saved.

Every handler serves one tick of one Canary, reads the typed Canary, and raises only the error
classes of ``controller.errors``.
"""
