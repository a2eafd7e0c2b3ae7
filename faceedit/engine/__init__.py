"""The engine: QtCore objects that run core work off the GUI thread and report by signals.

The edit worker owns the model (photo and live video edits), the batch runner exports a
folder, the camera source captures and tracks frames, and the retrain process runs the
trainer in a child process. The GUI calls their request methods and listens to their
signals. QtCore only, never QtWidgets (docs/ARCHITECTURE.md, "Layers and rules").
"""
