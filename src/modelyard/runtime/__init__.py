"""The runtime layer: flavors that save, detect, load and predict; checks that prove a bundle
loads and predicts; templates; and the SDK's prepare flow.

Everything that imports a model's code or framework runs here, in check and serving worker
processes or on the user's machine: the API server imports only the value types of
``modelyard.domain.runtime``.
"""
