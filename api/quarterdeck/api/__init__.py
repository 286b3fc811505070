"""Quarterdeck's REST API: the FastAPI app and everything at the HTTP edge.

Module map: ``app`` (``create_app``: routers, A2A mounts, error answers), ``routes`` (one router per
resource), ``control`` (the ``Control`` Protocol the routes call, and ``RuntimeControl`` over the
agents' runtime), ``schemas`` (request/response bodies around the shared core models), ``auth``
(token hashes → principals and roles) and ``security`` (the bearer check, the A2A gate),
``dryrun`` (verdict + what-if, shared with ``quarterdeck dry-run``), ``metrics`` (``/metrics``),
``serving`` (``quarterdeck serve``'s wiring).
"""
