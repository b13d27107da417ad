/*
 * state_pool - large buffers of freed states, kept for the next state
 *
 * A flat splice's result (delta_splice, state_flatten) is a new state as
 * large as its base, and the base is freed soon after: without this pool
 * each would fault in and zero a state's worth of fresh pages (a third of
 * a delta install at 1M recipients, before a delta's result shared its
 * base's records).  state_free() of such a result hands its large buffers
 * here, the next flat splice takes them back (an agent whose export merges
 * many records into its largest file's makes one each export); at most
 * STATE_POOL_N are kept, the largest, so the memory held is about one
 * state's, and only in a program that splices states.  Thread-safe (one
 * mutex); only out of memory fails, as malloc does.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#include "state_impl.h"

/* buffers below this are freed, not kept */
#define STATE_POOL_MIN ((size_t)1 << 20)
#define STATE_POOL_N 4

static pthread_mutex_t state_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static void *state_pool_buf[STATE_POOL_N];
static size_t state_pool_size[STATE_POOL_N];

void *state_pool_get(size_t len)
{
	void *p = NULL;
	size_t i, best = STATE_POOL_N;

	if (len < STATE_POOL_MIN)
		return state_malloc(len);
	pthread_mutex_lock(&state_pool_lock);
	/* the smallest kept buffer that holds len, if not twice too large */
	for (i = 0; i < STATE_POOL_N; i++)
		if (state_pool_buf[i] != NULL && state_pool_size[i] >= len &&
		    state_pool_size[i] / 2 <= len &&
		    (best == STATE_POOL_N ||
		     state_pool_size[i] < state_pool_size[best]))
			best = i;
	if (best < STATE_POOL_N) {
		p = state_pool_buf[best];
		state_pool_buf[best] = NULL;
	}
	pthread_mutex_unlock(&state_pool_lock);
	/* a new one with room for the next state's growth */
	return p != NULL ? p : malloc(len + len / 64);
}

void state_pool_put(void *p)
{
	size_t size, i, low = 0;

	if (p == NULL)
		return;
	size = malloc_usable_size(p);
	if (size < STATE_POOL_MIN) {
		free(p);
		return;
	}
	pthread_mutex_lock(&state_pool_lock);
	for (i = 0; i < STATE_POOL_N; i++) {
		if (state_pool_buf[i] == NULL) {
			low = i;
			break;
		}
		if (state_pool_size[i] < state_pool_size[low])
			low = i;
	}
	/* keep the largest: the one replaced (or p itself) is freed */
	if (state_pool_buf[low] == NULL || state_pool_size[low] < size) {
		void *old = state_pool_buf[low];

		state_pool_buf[low] = p;
		state_pool_size[low] = size;
		p = old;
	}
	pthread_mutex_unlock(&state_pool_lock);
	free(p);
}

void state_pool_free(const struct state *st, void *p)
{
	if (st->pooled)
		state_pool_put(p);
	else
		free(p);
}
