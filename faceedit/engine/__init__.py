"""The inference engine: a QtCore worker thread that owns the model (see the app issue)."""
