"""Rendering: decoded structures to text, ANSI, JSON and PNG.

Imports only :mod:`fjgdb.decoders` (and Pillow, lazily, for PNG); never ``gdb``, never
reads the target. One module per topic: descriptors (fj gdt, fj seg), idt, paging
(fj pt), realmode (fj ivt), timeline, vga (text/ANSI), png, cpu (mode lines, CS:IP,
what changed, the context panel and the tour), json.
"""
