/*
 * mem - advice to the kernel about large fresh buffers (see mem.h)
 */
#include <stdint.h>
#include <sys/mman.h>

#include "mem.h"

#ifndef MEM_HUGE
#define MEM_HUGE 1
#endif
#define MEM_HUGE_PAGE ((uintptr_t)2 << 20)

void mem_huge(void *p, size_t len)
{
	uintptr_t a = ((uintptr_t)p + MEM_HUGE_PAGE - 1) & ~(MEM_HUGE_PAGE - 1);
	uintptr_t e = ((uintptr_t)p + len) & ~(MEM_HUGE_PAGE - 1);

	if (MEM_HUGE && p != NULL && len >= 2 * MEM_HUGE_PAGE && e > a)
		(void)madvise((void *)a, e - a, MADV_HUGEPAGE);
}
