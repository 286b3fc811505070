"""The REST API's routers, one module per resource: health, services, actions and proposals,
chat, the loop, the audit log. Each exposes `router`; `quarterdeck.api.app` includes them."""
