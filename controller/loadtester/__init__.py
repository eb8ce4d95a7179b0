"""``gitcanary loadtester``: an HTTP server with the API of Flagger's load tester (v1.44).

Canary webhooks written for Flagger's load tester work against it unchanged:

* ``POST /`` runs the task named by ``metadata.type``: ``cmd`` (the default; queued and run in
  the background, answered 202 at once, as Flagger does), ``bash``, ``helm``/``helmv3`` and
  ``kubectl`` (run while the request waits: 200 on success, 500 with the output on failure).
* ``/gate/approve`` (200), ``/gate/halt`` (403), ``/gate/check``, ``/gate/open``, ``/gate/close``
  and ``/rollback/check``, ``/rollback/open``, ``/rollback/close``: manual gates per Canary.
* ``/healthz`` and ``/metrics``.

Where it differs from Flagger: gate state survives restarts (a JSON file under ``--state-dir``);
``cmd`` runs its program without a shell (``bash`` is the shell type); every command has a total
deadline, after which its whole process group is killed, and a bounded output capture; an
optional allow-list restricts which programs run.

Modules: ``gates`` (the persisted gate store), ``commands`` (one bounded subprocess run),
``tasks`` (task types and the background runner), ``server`` (the routes), ``cli`` (the command).
"""
