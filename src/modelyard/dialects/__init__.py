"""Foreign platforms' APIs spoken by modelyard: each a thin translation over the service layer.

A dialect is an ASGI sub-application mounted on the main app under its platform's path prefix,
with its own OpenAPI schema and its own error shape; it holds no rules of its own (DESIGN.md).
"""
