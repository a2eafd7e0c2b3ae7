"""Qt-free core: photos, face detection and alignment, the ExprGAN model, the editor.

Nothing here imports Qt; the engine and the GUI sit on top of this package, and the
trainer imports the same model definition from here.
"""
