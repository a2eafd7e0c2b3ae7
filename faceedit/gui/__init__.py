"""The desktop app's widgets (QtWidgets only; never imports torch)."""
