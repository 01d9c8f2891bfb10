"""The gRPC transport: ModelBox's ``modelbox.ModelStore`` service over the service layer.

``protos/modelbox/service.proto`` is the service definition recovered from the published
``modelbox`` 0.0.5 client (same package, names and field numbers); ``_generated/`` holds the
message classes protoc made from it (never edited by hand; see docs/grpc.md to regenerate).
``servicer.py`` translates each call into use cases, ``errors.py`` maps their errors to status
codes, ``server.py`` runs it beside the HTTP server. Needs the ``grpc`` extra.
"""
