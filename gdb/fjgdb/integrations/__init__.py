"""GDB integrations that are not commands: the mode-aware disassembler (disasm), the
16/32-bit frame unwinder (unwind), the stop-event context panel (panel) and the fj-*
settings (params). Like the commands, they read the target through fjgdb.target."""
