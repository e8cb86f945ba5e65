"""farjump GDB extension.

Pure decoders live in :mod:`fjgdb.decoders` (no ``gdb`` import anywhere
below that package); the GDB command layer lives in :mod:`fjgdb.commands`.
"""
