"""Results written out: pictures of results (PNG) and labels turned into folder names."""
