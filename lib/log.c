/*
 * JSON lines on stderr. Each line is built in memory and handed to one
 * write(2): with stderr on an O_APPEND file or a pipe (lines under PIPE_BUF),
 * lines from several worker processes never interleave. log_msg() caps the
 * message so its lines stay well under PIPE_BUF.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "fdio.h"
#include "log.h"

/* Longest printf-style message; longer ones are cut (PIPE_BUF is 4096). */
#define LOG_MSG_MAX 2048

static long cached_pid;

void
log_set_pid(long pid)
{
	cached_pid = pid;
}

int
log_reopen(const char *path)
{
	int fd, saved;

	if (path == NULL)
		return 0;
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640)) < 0)
		return -1;
	if (fd != STDERR_FILENO && dup2(fd, STDERR_FILENO) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (fd != STDERR_FILENO)
		close(fd);
	return 0;
}

static const char *const level_names[] = {
	[LOG_DEBUG] = "debug",
	[LOG_INFO] = "info",
	[LOG_WARN] = "warn",
	[LOG_ERROR] = "error",
};

static const char *
level_name(enum log_level l)
{
	return (unsigned)l <= LOG_ERROR ? level_names[l] : "error";
}

/* Add v (owned) to o; on failure v is released. NULL v is a failure. */
static int
add(json_object *o, const char *key, json_object *v)
{
	if (v == NULL)
		return -1;
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

/*
 * Serialise {"ts","level","pid", then the members of extra} as one line.
 * Borrows extra (NULL: none); members named ts, level or pid in it are
 * dropped so the header fields cannot be spoofed.
 */
static void
emit(enum log_level level, json_object *extra)
{
	static const char oom[] =
	    "{\"level\":\"error\",\"msg\":\"log: out of memory\"}\n";
	json_object *o = NULL;
	const char *s;
	char ts[64], *line = NULL;
	size_t len;
	int saved = errno;

	clock_format_ms(clock_real_ms(), CLOCK_RFC3339, ts);
	if ((o = json_object_new_object()) == NULL)
		goto out;
	if (add(o, "ts", json_object_new_string(ts)) != 0 ||
	    add(o, "level", json_object_new_string(level_name(level))) != 0 ||
	    add(o, "pid", json_object_new_int64(cached_pid ?
	    (int64_t)cached_pid : (int64_t)getpid())) != 0)
		goto out;
	if (extra != NULL && json_object_is_type(extra, json_type_object)) {
		json_object_object_foreach(extra, key, val) {
			if (strcmp(key, "ts") == 0 || strcmp(key, "level") == 0 ||
			    strcmp(key, "pid") == 0)
				continue;
			/* A null member is stored as NULL: nothing to get. */
			if (val == NULL) {
				if (json_object_object_add(o, key, NULL) != 0)
					goto out;
			} else if (add(o, key, json_object_get(val)) != 0)
				goto out;
		}
	}
	s = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL)
		goto out;
	len = strlen(s);
	if ((line = malloc(len + 1)) == NULL)
		goto out;
	memcpy(line, s, len);
	line[len] = '\n';
	(void)write_all(STDERR_FILENO, line, len + 1);
	json_object_put(o);
	free(line);
	errno = saved;
	return;
out:
	json_object_put(o);
	(void)write_all(STDERR_FILENO, oom, sizeof(oom) - 1);
	errno = saved;
}

/* Log a printf-style message as {"ts","level","pid","msg"}; keeps errno. */
void
log_msg(enum log_level level, const char *fmt, ...)
{
	char msg[LOG_MSG_MAX];
	json_object *o;
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if ((o = json_object_new_object()) != NULL)
		(void)add(o, "msg", json_object_new_string(msg));
	errno = saved;
	emit(level, o);
	json_object_put(o);
}

/* Log obj's members after "ts", "level" and "pid". Borrows obj. */
void
log_json(enum log_level level, json_object *obj)
{
	emit(level, obj);
}
