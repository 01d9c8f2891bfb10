"""Serving: a deployment's model in worker processes outside the API server.

- :mod:`~modelyard.serving.worker`: the process that loads one model once and answers
  predictions over a Unix socket, with adaptive micro-batching (:mod:`~.batching`);
- :mod:`~modelyard.serving.replica`: the API server's side, which starts a worker, calls it and
  notices when it dies, raising :mod:`~modelyard.serving.errors`;
- :mod:`~modelyard.serving.protocol`: the frames between the two.
"""
