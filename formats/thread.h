/*
 * thread - one job on a second thread, and one loop spread over the cores:
 * the two ways the programs use more than one core
 *
 * The thread starts with every signal blocked, so that signals reach only
 * the caller's thread (whose handlers and sigwait loops expect them).  When
 * no thread can be had, thread_start() runs the job at once on the
 * caller's thread: the result is the same, only later.  thread_detach()
 * is for a job that must not hold up its caller (an install while the
 * installer keeps answering): it fails instead, and the job did not run.
 */
#ifndef MXSYNC_THREAD_H
#define MXSYNC_THREAD_H

#include <pthread.h>

struct thread {
	pthread_t th;
	int started;
	void (*fn)(void *arg);
	void *arg;
};

/* thread_start - run fn(arg) on a second thread (or now, without one) */
void thread_start(struct thread *t, void (*fn)(void *arg), void *arg);

/* thread_wait - wait until the job is done; a no-op when it ran inline */
void thread_wait(struct thread *t);

/*
 * thread_detach - run fn(arg) on a thread of its own that nobody joins;
 * -1 (errno set) when no thread can be had: then fn was not called
 */
int thread_detach(void (*fn)(void *arg), void *arg);

/*
 * thread_for - fn(arg, i) for every i in [0, n), each exactly once and in
 * no fixed order, on the caller's thread and up to THREAD_FOR_MAX - 1 more
 * (at most one per online core); returns when all are done.  The calls
 * must not depend on each other.  With one core, n < 2, a build with
 * PARALLEL=0 (the Makefile's speed knob), or when no thread can be had,
 * they run in order on the caller's thread: the result is the same.
 */
#define THREAD_FOR_MAX 4
void thread_for(size_t n, void (*fn)(void *arg, size_t i), void *arg);

#endif
