/*
 * The scoreboard: one MAP_SHARED region the pool's master creates before it
 * forks (DESIGN.md "Process manager"). Each worker owns one slot and updates
 * it with plain stores and atomics; the master reads every slot to size the
 * pool, enforce request_timeout and write the slow log; the status page
 * renders it; admission (admit.h) counts probe slots in it under one robust
 * process-shared mutex.
 *
 * Nothing secret goes here: pids, states, route names, org ids, destination
 * types, counters, key ids.
 *
 * Ownership: sb_create() maps the region (the master keeps it for its life
 * and every child inherits it); sb_attach_worker() tells this process which
 * slot is its own. In spawned and CGI modes there is no scoreboard: sb()
 * returns NULL and every sb_* note is a no-op.
 */
#ifndef BD_SCOREBOARD_H
#define BD_SCOREBOARD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "bd_limits.h"

enum sb_state {
	SB_EMPTY = 0,  /* no worker in this slot */
	SB_STARTING,   /* forked, not yet waiting for a connection */
	SB_IDLE,       /* waiting for a connection */
	SB_READING,    /* accepted; reading the request */
	SB_HANDLING,   /* running the handler */
	SB_PROBING,    /* holding a probe slot (outbound work) */
	SB_STATE__MAX
};

#define SB_ROUTE_MAX 40
#define SB_TYPE_MAX 24
#define SB_KEYS_MAX 16
#define SB_MSG_MAX 256

struct sb_worker {
	_Atomic int pid;              /* 0: slot free */
	_Atomic int state;            /* enum sb_state */
	unsigned gen;                 /* config generation (master only) */
	long long started_ms;         /* wall clock, ms since the epoch */
	_Atomic long long req_start;  /* monotonic ms; 0 when idle */
	_Atomic long long idle_since; /* monotonic ms */
	_Atomic unsigned long requests;
	_Atomic int slow_logged;      /* this request was slow-logged */
	_Atomic int quitting;         /* told to leave (SIGQUIT sent) */
	char route[SB_ROUTE_MAX];
	char org[LIM_ORG_MAX + 1];
	/* admission, under sb_pool.lock */
	int probing;
	long long probe_start;        /* monotonic ms */
	char probe_type[SB_TYPE_MAX];
	char probe_org[LIM_ORG_MAX + 1];
};

struct sb_keycount {
	char key_id[LIM_KEY_ID_MAX + 1];
	long long rows;
};

struct sb_pool {
	pthread_mutex_t lock;         /* robust, process-shared */
	long long start_time;         /* wall clock, seconds */
	char pm[16];
	int max_children, probe_slots, probe_slots_per_org;
	int reserved_for_reads, probe_timeout;
	_Atomic unsigned long long accepted, max_children_reached,
	    slow_requests, respawns, reloads, refused_clients;
	_Atomic unsigned long long busy_org, busy_host; /* 429s given */
	_Atomic int listen_queue, listen_queue_max;
	_Atomic unsigned log_gen;     /* bumped by SIGUSR1: reopen log_file */
	/* last reload, under lock */
	int last_reload_ok;           /* -1: none yet */
	long long last_reload_at;     /* wall clock, seconds */
	char last_reload_msg[SB_MSG_MAX];
	/* rows per key_id, cached by whichever worker renders the status */
	long long keys_at;            /* monotonic ms; 0: never */
	int db_up, nkeys;
	struct sb_keycount keys[SB_KEYS_MAX];
	struct sb_worker w[LIM_SB_WORKERS];
};

/* Map a zeroed, shared scoreboard and make it this process's; NULL on
 * failure (logged). */
struct sb_pool *sb_create(void);
/* The scoreboard of this process (NULL in spawned/CGI mode). */
struct sb_pool *sb(void);
/* In a freshly forked worker: slot i is this process's own. */
void sb_attach_worker(int i);
/* This process's own slot, or NULL (master, spawned, CGI). */
struct sb_worker *sb_self(void);

/* Lock/unlock the pool mutex (recovers it when its holder died). */
void sb_lock(struct sb_pool *);
void sb_unlock(struct sb_pool *);

/* Worker notes (no-ops without a scoreboard). */
void sb_note_state(enum sb_state);
void sb_note_request(const char *route);  /* READING, request count++ */
void sb_note_route(const char *route, const char *org);
void sb_note_idle(void);

/* Copy a string into a fixed field, cut and NUL-terminated. */
void sb_copy(char *dst, size_t cap, const char *src);

const char *sb_state_name(enum sb_state);

/* Counts of the live workers by state (index enum sb_state). */
void sb_count(struct sb_pool *, int counts[SB_STATE__MAX]);

#endif
