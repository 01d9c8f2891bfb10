"""Where URL imports read from: the source readers and the SSRF guard they go through."""
