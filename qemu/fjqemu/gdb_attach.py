"""Run inside GDB by 'make gdb' (gdb -x): go to stage1_start only if the guest still sits
at the reset vector (CS:IP f000:fff0). A guest that an earlier GDB already ran on is left
where it is: 'tbreak stage1_start; continue' would then wait for ever. With BOOT=multiboot
or grub (make gdb sets the GDB variable $fj_multiboot and loads mb_entry's symbols) the
first stop is mb_entry instead."""
try:
    import gdb
    gdb.execute         # python3 -m from the repository imports the gdb/ directory instead
except (ImportError, AttributeError):
    raise SystemExit("gdb_attach.py runs inside GDB ('make gdb' starts it); not on its own")

try:
    pc = int(gdb.parse_and_eval("$pc"))
except gdb.error as e:
    raise SystemExit(f"debug: no registers to read ({e}); is the target connected?")
try:
    cs = int(gdb.parse_and_eval("$cs"))
except gdb.error:
    cs = 0xf000
entry = "mb_entry" if gdb.convenience_variable("fj_multiboot") else "stage1_start"
if pc == 0xfff0 and cs == 0xf000:
    gdb.execute(f"tbreak {entry}")
    gdb.execute("continue")
else:
    try:
        where = gdb.execute("info symbol $pc", to_string=True).strip()
    except gdb.error:
        where = "no symbol"
    print(f"debug: the guest is past the reset vector (an earlier GDB ran it); attached "
          f"where it stopped, pc=0x{pc:x} ({where}). Not running to {entry}.")
