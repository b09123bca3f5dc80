/*
 * Logging: one JSON object per line on stderr (the pool redirects it to the
 * service log). Nothing secret is ever passed here; callers log ids, names of
 * checks and error names, never config values or tokens.
 */
#ifndef BD_LOG_H
#define BD_LOG_H

#include <json-c/json.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* printf-style message line: {"ts":...,"level":...,"pid":...,"msg":...}. */
void log_msg(enum log_level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Write `obj` as one line after adding "ts", "level" and "pid". Borrows obj. */
void log_json(enum log_level, json_object *obj);

/* Cache this process's pid for the log lines (call after every fork);
 * 0 forgets it. Saves a getpid(2) per line. */
void log_set_pid(long pid);

/*
 * Point stderr (the log) at `path`, opened O_APPEND|O_CREAT (0640), with
 * dup2(2): everything that writes to fd 2 follows. For log_file at start
 * and on SIGUSR1 (logrotate moved the file away). NULL: nothing to do.
 * Returns 0, or -1 with errno set (stderr unchanged).
 */
int log_reopen(const char *path);

#endif
