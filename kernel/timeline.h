/* The boot timeline: TSC stamps at each transition (struct boot_info, contracts/bootinfo.h),
 * the TSC rate measured against the ACPI PM timer, and the kernel's report. */
#ifndef FARJUMP_TIMELINE_H
#define FARJUMP_TIMELINE_H

#include "bootinfo.h"

/* kernel_main's first statement: stamp TL_KERNEL_MAIN and start measuring the TSC rate. */
void timeline_kernel_main(struct boot_info *bi);
/* Right after "Hello World!": stamp TL_HELLO, store the TSC rate in bi->tsc_hz. */
void timeline_hello(struct boot_info *bi);
/* Print the cost of each step on COM1 (TSC cycles, and microseconds when the rate is known). */
void timeline_print(const struct boot_info *bi);

#endif
