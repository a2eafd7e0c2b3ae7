"""faceedit-train: builds ExprGAN models from Oulu-CASIA and folder datasets.

Imports the one model definition from faceedit.core; never faceedit.gui.
"""
