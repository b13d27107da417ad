/*
 * mem - advice to the kernel about large fresh buffers (see mem.h)
 */
#include <stdint.h>
#include <sys/mman.h>

#include "mem.h"

#define MEM_HUGE ((uintptr_t)2 << 20)
#define MEM_PAGE ((uintptr_t)4096)

void mem_huge(void *p, size_t len)
{
	uintptr_t a = ((uintptr_t)p + MEM_HUGE - 1) & ~(MEM_HUGE - 1);
	uintptr_t e = ((uintptr_t)p + len) & ~(MEM_HUGE - 1);

#ifdef MEM_NO_HUGE
	return;
#endif
	if (p != NULL && len >= 2 * MEM_HUGE && e > a)
		(void)madvise((void *)a, e - a, MADV_HUGEPAGE);
}

void mem_populate(const void *p, size_t len, int write)
{
	uintptr_t a = ((uintptr_t)p + MEM_PAGE - 1) & ~(MEM_PAGE - 1);
	uintptr_t e = ((uintptr_t)p + len) & ~(MEM_PAGE - 1);

#ifdef MEM_NO_POPULATE
	return;
#endif
	if (p == NULL || e <= a)
		return;
#if defined(MADV_POPULATE_READ) && defined(MADV_POPULATE_WRITE)
	(void)madvise((void *)a, e - a,
		      write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
#else
	(void)write;
#endif
}
