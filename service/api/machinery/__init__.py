"""HTTP machinery every endpoint shares: the error shape, ETags and preconditions, bodies,
pagination, representations, authentication, idempotency, rate limits, CORS, waiting and
response hygiene. The endpoints are the modules of ``service.api`` itself."""
