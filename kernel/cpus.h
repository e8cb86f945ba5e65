/* Starting the other CPUs (application processors) and what each runs (kernel/smp.c; the layout: contracts/smp.h). */
#ifndef FARJUMP_CPUS_H
#define FARJUMP_CPUS_H

#include <stdint.h>

#include "bootinfo.h"
#include "smp.h"

/* Start every enabled CPU the ACPI MADT lists, one after the other; each prints
 * "CPU n online" and halts. Prints nothing when the boot CPU is the only one. */
void smp_start_aps(const struct boot_info *bi);

/* An AP's C entry, called by the trampoline (kernel/ap/trampoline.asm) in long mode on
 * its own stack: prints "CPU n online", then halts. */
__attribute__((noreturn)) void ap_main(uint32_t cpu);

#endif
