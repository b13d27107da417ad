/*
 * test-thread - thread_start() runs the job once, on a thread that blocks
 * every signal, and thread_wait() waits for it; thread_detach() runs it
 * once on a thread of its own, with every signal blocked too
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "../../formats/thread.h"
#include "test.h"

struct test_job {
	pthread_t self;
	int runs, term_blocked, usr1_blocked;
};

static void test_job_run(void *arg)
{
	struct test_job *j = arg;
	sigset_t now;

	j->self = pthread_self();
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	j->term_blocked = sigismember(&now, SIGTERM) == 1;
	j->usr1_blocked = sigismember(&now, SIGUSR1) == 1;
	j->runs++;
}

/* what a detached job reports back under its lock */
struct test_detached {
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	int done;
	struct test_job j;
};

static void test_detached_run(void *arg)
{
	struct test_detached *d = arg;

	pthread_mutex_lock(&d->lock);
	test_job_run(&d->j);
	d->done = 1;
	pthread_cond_signal(&d->done_cond);
	pthread_mutex_unlock(&d->lock);
}

int main(void)
{
	struct test_detached d;
	struct test_job j;
	struct thread t;
	sigset_t now;

	memset(&j, 0, sizeof(j));
	thread_start(&t, test_job_run, &j);
	thread_wait(&t);
	ok(j.runs == 1, "the job ran once");
	ok(!pthread_equal(j.self, pthread_self()), "on another thread");
	ok(j.term_blocked && j.usr1_blocked, "with every signal blocked");
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	ok(sigismember(&now, SIGTERM) == 0, "the caller's mask is as before");
	thread_wait(&t);
	ok(j.runs == 1, "a second wait is a no-op");

	memset(&d, 0, sizeof(d));
	pthread_mutex_init(&d.lock, NULL);
	pthread_cond_init(&d.done_cond, NULL);
	pthread_mutex_lock(&d.lock);
	ok(thread_detach(test_detached_run, &d) == 0, "thread_detach starts");
	while (!d.done)
		pthread_cond_wait(&d.done_cond, &d.lock);
	pthread_mutex_unlock(&d.lock);
	ok(d.j.runs == 1, "the detached job ran once");
	ok(!pthread_equal(d.j.self, pthread_self()), "on another thread");
	ok(d.j.term_blocked && d.j.usr1_blocked, "with every signal blocked");
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	ok(sigismember(&now, SIGTERM) == 0, "the caller's mask is as before");
	pthread_cond_destroy(&d.done_cond);
	pthread_mutex_destroy(&d.lock);
	return test_done();
}
