"""Model families behind one contract (:mod:`.contract`), their file format and pixel conventions.

- :mod:`.contract` — what a family provides: ``read`` a face once, ``render`` an :class:`~.contract.Edit`.
- :mod:`.pixels` — the one owner of pixel ↔ tensor conventions.
- :mod:`.exprgan` — the ExprGAN family (networks, config, its registry entry).
- :mod:`.families` — the registry: a model file's ``family`` → its family.
- :mod:`.file` — the model file: save, read the header, load safely (``weights_only``).

Nothing is imported here (importing this package must stay cheap and torch-free).
"""
