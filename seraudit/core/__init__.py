"""The bottom layer: errors, atomic writes, cache paths and the constants every other part shares.

Nothing here imports another part of SERAudit (a test enforces it), so any module,
including the openSMILE worker that must never load TensorFlow, can use it.
"""
