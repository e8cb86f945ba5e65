# placeholder: the GDB workbench targets (debug, debug-server, gdb) go here.
