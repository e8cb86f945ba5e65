/* The test hooks' empty defaults (fault_hooks.h). Weak: the fault-injection test kernels
 * link tests/guests/fault/fault.c, whose definitions replace these. */
#include "fault_hooks.h"

__attribute__((weak)) void fault_inject(void)
{
}

__attribute__((weak)) void fault_in_panic(void)
{
}
