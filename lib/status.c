/*
 * Status page rendering: one snapshot of the scoreboard, then JSON or
 * OpenMetrics from the snapshot.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "scoreboard.h"
#include "status.h"

#define TYPES_MAX 16

struct snap {
	const char *mode, *pm;
	long long start_time, now;
	unsigned long long accepted, max_children_reached, slow, respawns,
	    reloads, busy_org, busy_host, refused;
	int listen_queue, listen_queue_max;
	int counts[SB_STATE__MAX];
	int max_children, probe_slots, per_org, reserved;
	int last_reload_ok;
	long long last_reload_at;
	char last_reload_msg[SB_MSG_MAX];
	int ntypes;
	struct { char type[SB_TYPE_MAX]; int n; } types[TYPES_MAX];
	int db_up, nkeys;
	struct sb_keycount keys[SB_KEYS_MAX];
};

/* Key counts, per process without a scoreboard. */
static struct {
	long long at;
	int db_up, n;
	struct sb_keycount keys[SB_KEYS_MAX];
} local_cache;

static void
refresh_keys(struct db *db, long long *at, int *up, int *n,
    struct sb_keycount *keys)
{
	struct dbres r = {0};
	enum bd_err rc;

	rc = db != NULL ? db_exec(db, STMT_KEY_COUNTS, NULL, 0, &r, NULL) :
	    BD_ERR_DB_DOWN;
	*at = clock_mono_ms();
	*up = rc == BD_OK;
	*n = 0;
	if (rc != BD_OK)
		return;
	for (size_t i = 0; i < r.nrows && *n < SB_KEYS_MAX; i++) {
		const char *k = DBRES_VAL(&r, i, 0), *c = DBRES_VAL(&r, i, 1);
		sb_copy(keys[*n].key_id, sizeof(keys[*n].key_id), k ? k : "");
		keys[*n].rows = c ? strtoll(c, NULL, 10) : 0;
		(*n)++;
	}
	dbres_free(&r);
}

static void
take(struct snap *s, const struct cfg *cfg, struct db *db, const char *mode)
{
	struct sb_pool *p = sb();
	long long now = clock_mono_ms();

	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->pm = cfg->pm;
	s->now = (long long)time(NULL);
	s->max_children = cfg->pm_max_children;
	s->probe_slots = cfg->probe_slots;
	s->per_org = cfg->probe_slots_per_org;
	s->reserved = cfg->pm_reserved_for_reads;
	s->last_reload_ok = -1;
	s->listen_queue = s->listen_queue_max = -1;
	if (p == NULL) {
		if (local_cache.at == 0 || now - local_cache.at >
		    STATUS_CACHE_MS)
			refresh_keys(db, &local_cache.at, &local_cache.db_up,
			    &local_cache.n, local_cache.keys);
		s->db_up = local_cache.db_up;
		s->nkeys = local_cache.n;
		memcpy(s->keys, local_cache.keys, sizeof(s->keys));
		return;
	}
	s->start_time = p->start_time;
	s->accepted = atomic_load(&p->accepted);
	s->max_children_reached = atomic_load(&p->max_children_reached);
	s->slow = atomic_load(&p->slow_requests);
	s->respawns = atomic_load(&p->respawns);
	s->reloads = atomic_load(&p->reloads);
	s->busy_org = atomic_load(&p->busy_org);
	s->busy_host = atomic_load(&p->busy_host);
	s->refused = atomic_load(&p->refused_clients);
	s->listen_queue = atomic_load(&p->listen_queue);
	s->listen_queue_max = atomic_load(&p->listen_queue_max);
	sb_count(p, s->counts);

	sb_lock(p);
	s->pm = p->pm[0] ? p->pm : cfg->pm;
	s->max_children = p->max_children;
	s->probe_slots = p->probe_slots;
	s->per_org = p->probe_slots_per_org;
	s->reserved = p->reserved_for_reads;
	s->last_reload_ok = p->last_reload_ok;
	s->last_reload_at = p->last_reload_at;
	memcpy(s->last_reload_msg, p->last_reload_msg,
	    sizeof(s->last_reload_msg));
	for (int i = 0; i < LIM_SB_WORKERS; i++) {
		struct sb_worker *w = &p->w[i];
		int j;
		if (!w->probing)
			continue;
		for (j = 0; j < s->ntypes; j++)
			if (strcmp(s->types[j].type, w->probe_type) == 0)
				break;
		if (j == s->ntypes) {
			if (s->ntypes == TYPES_MAX)
				continue;
			sb_copy(s->types[j].type, sizeof(s->types[j].type),
			    w->probe_type);
			s->ntypes++;
		}
		s->types[j].n++;
	}
	bool stale = p->keys_at == 0 || now - p->keys_at > STATUS_CACHE_MS;
	if (stale)
		p->keys_at = now; /* one refresher at a time */
	sb_unlock(p);
	if (stale) {
		long long at;
		int up, n;
		struct sb_keycount keys[SB_KEYS_MAX];
		refresh_keys(db, &at, &up, &n, keys);
		sb_lock(p);
		p->keys_at = at;
		p->db_up = up;
		p->nkeys = n;
		memcpy(p->keys, keys, sizeof(keys));
		sb_unlock(p);
	}
	sb_lock(p);
	s->db_up = p->db_up;
	s->nkeys = p->nkeys;
	memcpy(s->keys, p->keys, sizeof(s->keys));
	sb_unlock(p);
}

static json_object *
workers_json(void)
{
	struct sb_pool *p = sb();
	json_object *a = json_object_new_array();
	long long now = clock_mono_ms();

	if (p == NULL || a == NULL)
		return a;
	for (int i = 0; i < LIM_SB_WORKERS; i++) {
		struct sb_worker *w = &p->w[i];
		int pid = atomic_load(&w->pid), st = atomic_load(&w->state);
		long long rs = atomic_load(&w->req_start);
		char route[SB_ROUTE_MAX], org[LIM_ORG_MAX + 1];
		json_object *o;

		if (pid == 0 || (o = json_object_new_object()) == NULL)
			continue;
		sb_copy(route, sizeof(route), w->route);
		sb_copy(org, sizeof(org), w->org);
		json_object_object_add(o, "pid", json_object_new_int(pid));
		json_object_object_add(o, "state", json_object_new_string(
		    sb_state_name((enum sb_state)st)));
		json_object_object_add(o, "startTime",
		    json_object_new_int64(w->started_ms / 1000));
		json_object_object_add(o, "requests", json_object_new_int64(
		    (int64_t)atomic_load(&w->requests)));
		if (rs > 0 && st >= SB_READING) {
			json_object_object_add(o, "route",
			    json_object_new_string(route));
			json_object_object_add(o, "org", org[0] ?
			    json_object_new_string(org) : NULL);
			json_object_object_add(o, "elapsedMs",
			    json_object_new_int64(now - rs));
		}
		json_object_array_add(a, o);
	}
	return a;
}

static void
add_int(json_object *o, const char *k, long long v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static json_object *
render_json(const struct snap *s)
{
	json_object *o = json_object_new_object(), *t, *x;
	int busy = s->counts[SB_READING] + s->counts[SB_HANDLING] +
	    s->counts[SB_PROBING];

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "pool", json_object_new_string("backupd"));
	json_object_object_add(o, "mode", json_object_new_string(s->mode));
	json_object_object_add(o, "processManager",
	    json_object_new_string(s->pm ? s->pm : ""));
	add_int(o, "startTime", s->start_time);
	add_int(o, "startSince", s->start_time ? s->now - s->start_time : 0);
	add_int(o, "acceptedConnections", (long long)s->accepted);
	json_object_object_add(o, "listenQueue", s->listen_queue >= 0 ?
	    json_object_new_int(s->listen_queue) : NULL);
	json_object_object_add(o, "listenQueueLength",
	    s->listen_queue_max >= 0 ?
	    json_object_new_int(s->listen_queue_max) : NULL);
	add_int(o, "idleProcesses", s->counts[SB_IDLE] +
	    s->counts[SB_STARTING]);
	add_int(o, "activeProcesses", busy);
	add_int(o, "probingProcesses", s->counts[SB_PROBING]);
	add_int(o, "totalProcesses", busy + s->counts[SB_IDLE] +
	    s->counts[SB_STARTING]);
	add_int(o, "maxChildren", s->max_children);
	add_int(o, "maxChildrenReached", (long long)s->max_children_reached);
	add_int(o, "slowRequests", (long long)s->slow);
	add_int(o, "respawns", (long long)s->respawns);
	add_int(o, "reloads", (long long)s->reloads);
	if ((t = json_object_new_object()) != NULL) {
		json_object_object_add(t, "ok", s->last_reload_ok < 0 ? NULL :
		    json_object_new_boolean(s->last_reload_ok));
		json_object_object_add(t, "at", s->last_reload_at ?
		    json_object_new_int64(s->last_reload_at) : NULL);
		json_object_object_add(t, "message", s->last_reload_msg[0] ?
		    json_object_new_string(s->last_reload_msg) : NULL);
		json_object_object_add(o, "lastReload", t);
	}
	add_int(o, "reservedForReads", s->reserved);
	add_int(o, "probeSlots", s->probe_slots);
	add_int(o, "probeSlotsPerOrg", s->per_org);
	if ((t = json_object_new_object()) != NULL) {
		for (int i = 0; i < s->ntypes; i++)
			add_int(t, s->types[i].type[0] ? s->types[i].type :
			    "unknown", s->types[i].n);
		json_object_object_add(o, "probesInFlight", t);
	}
	if ((t = json_object_new_object()) != NULL) {
		add_int(t, "organization", (long long)s->busy_org);
		add_int(t, "server", (long long)s->busy_host);
		add_int(t, "total", (long long)(s->busy_org + s->busy_host));
		json_object_object_add(o, "tooManyRequests", t);
	}
	add_int(o, "refusedClients", (long long)s->refused);
	if ((t = json_object_new_object()) != NULL) {
		json_object_object_add(t, "up",
		    json_object_new_boolean(s->db_up));
		if ((x = json_object_new_object()) != NULL) {
			for (int i = 0; i < s->nkeys; i++)
				add_int(x, s->keys[i].key_id, s->keys[i].rows);
			json_object_object_add(t, "destinationsByKeyId", x);
		}
		json_object_object_add(o, "database", t);
	}
	json_object_object_add(o, "workers", workers_json());
	return o;
}

/* A growing text buffer. */
struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void
bprintf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = (b->cap + (size_t)n) * 2;
		char *np = realloc(b->p, ncap);
		if (np == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

static void
metric(struct buf *b, const char *name, const char *type, const char *help)
{
	bprintf(b, "# TYPE backupd_%s %s\n# HELP backupd_%s %s\n", name, type,
	    name, help);
}

/* Label values here are key ids and type names: [A-Za-z0-9_.-] only, but
 * escape what OpenMetrics requires anyway. */
static void
label(struct buf *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '"' || *v == '\\')
			bprintf(b, "\\%c", *v);
		else if (*v == '\n')
			bprintf(b, "\\n");
		else
			bprintf(b, "%c", *v);
	}
}

static char *
render_openmetrics(const struct snap *s)
{
	static const enum sb_state shown[] = {SB_STARTING, SB_IDLE,
	    SB_READING, SB_HANDLING, SB_PROBING};
	struct buf b = {malloc(4096), 0, 4096, false};

	if (b.p == NULL)
		return NULL;
	metric(&b, "start_time_seconds", "gauge",
	    "When the pool's master started (Unix time).");
	bprintf(&b, "backupd_start_time_seconds %lld\n", s->start_time);
	metric(&b, "accepted_connections", "counter",
	    "Connections accepted by the workers.");
	bprintf(&b, "backupd_accepted_connections_total %llu\n", s->accepted);
	if (s->listen_queue >= 0) {
		metric(&b, "listen_queue", "gauge",
		    "Connections waiting in the listen backlog.");
		bprintf(&b, "backupd_listen_queue %d\n", s->listen_queue);
		metric(&b, "listen_queue_length", "gauge",
		    "Size of the listen backlog.");
		bprintf(&b, "backupd_listen_queue_length %d\n",
		    s->listen_queue_max);
	}
	metric(&b, "processes", "gauge", "Workers by state.");
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
		bprintf(&b, "backupd_processes{state=\"%s\"} %d\n",
		    sb_state_name(shown[i]), s->counts[shown[i]]);
	metric(&b, "max_children", "gauge", "pm_max_children.");
	bprintf(&b, "backupd_max_children %d\n", s->max_children);
	metric(&b, "max_children_reached", "counter",
	    "Times the pool wanted a worker beyond pm_max_children.");
	bprintf(&b, "backupd_max_children_reached_total %llu\n",
	    s->max_children_reached);
	metric(&b, "slow_requests", "counter",
	    "Requests that ran past request_slowlog_timeout.");
	bprintf(&b, "backupd_slow_requests_total %llu\n", s->slow);
	metric(&b, "respawns", "counter",
	    "Workers restarted after dying unexpectedly.");
	bprintf(&b, "backupd_respawns_total %llu\n", s->respawns);
	metric(&b, "reloads", "counter", "Configuration reloads that "
	    "succeeded.");
	bprintf(&b, "backupd_reloads_total %llu\n", s->reloads);
	metric(&b, "last_reload_success", "gauge",
	    "1 when the last reload succeeded, 0 when it failed (the old "
	    "configuration runs).");
	bprintf(&b, "backupd_last_reload_success %d\n",
	    s->last_reload_ok != 0);
	metric(&b, "probe_slots", "gauge",
	    "Probe slots of the host and per organization.");
	bprintf(&b, "backupd_probe_slots{scope=\"server\"} %d\n",
	    s->probe_slots);
	bprintf(&b, "backupd_probe_slots{scope=\"organization\"} %d\n",
	    s->per_org);
	metric(&b, "probes_in_flight", "gauge",
	    "Outbound connection tests in flight by destination type.");
	for (int i = 0; i < s->ntypes; i++) {
		bprintf(&b, "backupd_probes_in_flight{type=\"");
		label(&b, s->types[i].type);
		bprintf(&b, "\"} %d\n", s->types[i].n);
	}
	metric(&b, "too_many_requests", "counter",
	    "429 answers given by admission control, by limit.");
	bprintf(&b, "backupd_too_many_requests_total{limit=\"organization\"}"
	    " %llu\n", s->busy_org);
	bprintf(&b, "backupd_too_many_requests_total{limit=\"server\"} "
	    "%llu\n", s->busy_host);
	metric(&b, "refused_clients", "counter",
	    "Connections closed by listen_allowed_clients.");
	bprintf(&b, "backupd_refused_clients_total %llu\n", s->refused);
	metric(&b, "database_up", "gauge",
	    "1 when the last status query reached the database.");
	bprintf(&b, "backupd_database_up %d\n", s->db_up);
	metric(&b, "destinations", "gauge",
	    "Destinations by the key_id that encrypts them (cached).");
	for (int i = 0; i < s->nkeys; i++) {
		bprintf(&b, "backupd_destinations{key_id=\"");
		label(&b, s->keys[i].key_id);
		bprintf(&b, "\"} %lld\n", s->keys[i].rows);
	}
	bprintf(&b, "# EOF\n");
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

static bool
wants_openmetrics(const char *q)
{
	size_t n = strlen("openmetrics");

	for (const char *p = q; p != NULL && *p != '\0';) {
		if (strncmp(p, "openmetrics", n) == 0 &&
		    (p[n] == '\0' || p[n] == '&' || p[n] == '='))
			return true;
		p = strchr(p, '&');
		if (p != NULL)
			p++;
	}
	return false;
}

bool
status_serve(const struct cfg *cfg, struct db *db, const char *mode,
    const struct request *req, struct response *resp)
{
	struct snap s;

	if (req->path == NULL)
		return false;
	if (cfg->ping_path != NULL && strcmp(req->path, cfg->ping_path) == 0) {
		resp->status = 200;
		resp->content_type = "text/plain; charset=utf-8";
		resp->raw = strdup("pong\n");
		if (resp->raw == NULL)
			resp_problem(resp, req, BD_ERR_NOMEM, NULL);
		return true;
	}
	if (cfg->status_path == NULL || strcmp(req->path, cfg->status_path) != 0)
		return false;
	if (req->method == NULL || (strcmp(req->method, "GET") != 0 &&
	    strcmp(req->method, "HEAD") != 0)) {
		resp_problem(resp, req, BD_ERR_METHOD, "only GET here");
		resp_header(resp, "Allow", "GET, HEAD");
		return true;
	}
	take(&s, cfg, db, mode);
	if (wants_openmetrics(req->query)) {
		resp->status = 200;
		resp->content_type = "application/openmetrics-text; "
		    "version=1.0.0; charset=utf-8";
		if ((resp->raw = render_openmetrics(&s)) == NULL)
			resp_problem(resp, req, BD_ERR_NOMEM, NULL);
		return true;
	}
	json_object *o = render_json(&s);
	if (o == NULL) {
		resp_problem(resp, req, BD_ERR_NOMEM, NULL);
		return true;
	}
	resp_json(resp, 200, o);
	return true;
}
