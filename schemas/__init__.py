"""Marshmallow schemas: what enters and leaves over HTTP, and the source of the OpenAPI spec."""
