"""farjump GDB extension, in layers; each imports only the ones below it.

    commands/      one module per fj command (COMMANDS), base.py for what they share
    integrations/  GDB hooks that are not commands: disassembler, unwinder, panel, settings
    render/        decoded data -> text, ANSI, JSON, PNG (no gdb, no target reads)
    target/        the ONLY code that talks to GDB's target and QEMU: connection,
                   monitor, memory (linear/physical/page tables), symbols, the per-stop
                   cache (STATE) and running the guest
    decoders/      pure: bytes in, frozen dataclasses out (no gdb, no I/O, no formatting);
                   cross-language facts come from the generated farjump_contracts

commands and integrations use target, decoders and render; render and target use
decoders. install.py registers everything (gdb/farjump.py calls it).
"""
