"""Run inside GDB by tests/test_boot_qemu.py: make the BIOS's E820 list longer than
struct boot_info holds (BOOTINFO_E820_MAX), to see stage 2 count the rest and the kernel warn.

Protocol (qemu/fjqemu/gdbrun.py): $FJ_IN gives "skip" and "want".

At stage 2's read_e820.skip (address "skip"), EBX is SeaBIOS's continuation
value, the index of the next entry, 0 after the last one, and BP the number of entries
counted so far. While fewer than "want" were counted, an end (EBX 0) becomes a
restart at entry 1, so SeaBIOS hands out its list again. Then the boot runs on to
timeline_hello (after the kernel printed its memory map) and GDB leaves.
"""
import json
import os

import gdb

CFG = json.load(open(os.environ["FJ_IN"]))


class Rewind(gdb.Breakpoint):
    def __init__(self, address: int, want: int):
        super().__init__(f"*{address:#x}", internal=True)
        self.want = want
        self.rewinds = 0

    def stop(self):
        counted = int(gdb.parse_and_eval("$ebp")) & 0xFFFF
        if int(gdb.parse_and_eval("$ebx")) == 0 and counted < self.want:
            gdb.execute("set $ebx = 1")
            self.rewinds += 1
        return False


rewind = Rewind(int(CFG["skip"]), int(CFG["want"]))
gdb.execute("tbreak timeline_hello")
gdb.execute("continue", to_string=True)
print(f"e820_many: {rewind.rewinds} rewinds")
