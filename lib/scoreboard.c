/*
 * The scoreboard region and the notes a worker writes into its own slot.
 * Plain stores of small fields; the strings may be read torn by the master
 * (they are always NUL-terminated within their field), which only costs a
 * mixed-up name on a status page, never a crash.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "clock.h"
#include "log.h"
#include "scoreboard.h"

static struct sb_pool *pool_sb;
static struct sb_worker *self_w;

struct sb_pool *
sb_create(void)
{
	pthread_mutexattr_t ma;
	struct sb_pool *p;

	p = mmap(NULL, sizeof(*p), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		log_msg(LOG_ERROR, "scoreboard: mmap failed: %s",
		    strerror(errno));
		return NULL;
	}
	if (pthread_mutexattr_init(&ma) != 0 ||
	    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&p->lock, &ma) != 0) {
		log_msg(LOG_ERROR, "scoreboard: cannot make its lock");
		munmap(p, sizeof(*p));
		return NULL;
	}
	pthread_mutexattr_destroy(&ma);
	p->last_reload_ok = -1;
	pool_sb = p;
	return p;
}

struct sb_pool *
sb(void)
{
	return pool_sb;
}

void
sb_attach_worker(int i)
{
	self_w = pool_sb != NULL && i >= 0 && i < LIM_SB_WORKERS ?
	    &pool_sb->w[i] : NULL;
}

struct sb_worker *
sb_self(void)
{
	return self_w;
}

/* A holder killed with the lock (kill -9 mid-admission) leaves it
 * EOWNERDEAD: the data it guards is counts derived from slots, always
 * consistent, so the lock is simply made usable again. */
void
sb_lock(struct sb_pool *p)
{
	if (pthread_mutex_lock(&p->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&p->lock);
}

void
sb_unlock(struct sb_pool *p)
{
	pthread_mutex_unlock(&p->lock);
}

void
sb_copy(char *dst, size_t cap, const char *src)
{
	size_t n;

	if (cap == 0)
		return;
	n = src != NULL ? strnlen(src, cap - 1) : 0;
	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void
sb_note_state(enum sb_state s)
{
	if (self_w != NULL)
		atomic_store_explicit(&self_w->state, (int)s,
		    memory_order_relaxed);
}

void
sb_note_request(const char *route)
{
	if (self_w == NULL)
		return;
	sb_copy(self_w->route, sizeof(self_w->route), route);
	self_w->org[0] = '\0';
	atomic_store_explicit(&self_w->slow_logged, 0, memory_order_relaxed);
	atomic_store_explicit(&self_w->req_start, clock_mono_ms(),
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&self_w->requests, 1, memory_order_relaxed);
	atomic_store_explicit(&self_w->state, SB_READING,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&pool_sb->accepted, 1, memory_order_relaxed);
}

void
sb_note_route(const char *route, const char *org)
{
	if (self_w == NULL)
		return;
	if (route != NULL)
		sb_copy(self_w->route, sizeof(self_w->route), route);
	if (org != NULL)
		sb_copy(self_w->org, sizeof(self_w->org), org);
	atomic_store_explicit(&self_w->state, SB_HANDLING,
	    memory_order_relaxed);
}

void
sb_note_idle(void)
{
	if (self_w == NULL)
		return;
	atomic_store_explicit(&self_w->idle_since, clock_mono_ms(),
	    memory_order_relaxed);
	atomic_store_explicit(&self_w->req_start, 0, memory_order_relaxed);
	atomic_store_explicit(&self_w->state, SB_IDLE, memory_order_relaxed);
}

const char *
sb_state_name(enum sb_state s)
{
	static const char *const names[SB_STATE__MAX] = {
		[SB_EMPTY] = "empty", [SB_STARTING] = "starting",
		[SB_IDLE] = "idle", [SB_READING] = "reading",
		[SB_HANDLING] = "handling", [SB_PROBING] = "probing",
	};

	return (unsigned)s < SB_STATE__MAX ? names[s] : "unknown";
}

void
sb_count(struct sb_pool *p, int counts[SB_STATE__MAX])
{
	memset(counts, 0, sizeof(int) * SB_STATE__MAX);
	for (int i = 0; i < LIM_SB_WORKERS; i++) {
		if (atomic_load_explicit(&p->w[i].pid,
		    memory_order_relaxed) == 0)
			continue;
		int s = atomic_load_explicit(&p->w[i].state,
		    memory_order_relaxed);
		if (s > 0 && s < SB_STATE__MAX)
			counts[s]++;
	}
}
