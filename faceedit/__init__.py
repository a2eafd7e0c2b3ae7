"""faceedit: a desktop facial-expression editor built on ExprGAN.

Importing this package does no work: models, detectors and Qt are loaded on first use.
"""

__version__ = "0.1.0"
