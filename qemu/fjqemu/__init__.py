"""farjump host-side tools (QEMU wing, image builder, ELF reader)."""
