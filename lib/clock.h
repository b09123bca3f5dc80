/* Milliseconds from the two clocks the service uses, and their text forms. */
#ifndef BD_CLOCK_H
#define BD_CLOCK_H

#include <stdbool.h>

/* Monotonic ms: durations, deadlines, backoff (never goes backwards). */
long long clock_mono_ms(void);
/* Wall clock, unix ms (UTC): timestamps shown to users and stored. */
long long clock_real_ms(void);

/* Room for any text clock_format_ms() writes, NUL included. */
#define CLOCK_TEXT_MAX 32

/* The text forms of a wall-clock instant, always UTC with milliseconds. */
enum clock_form {
	/* RFC 3339 §5.6 date-time, "2026-11-29T12:00:00.123Z": responses
	 * (OpenAPI format date-time) and log lines. */
	CLOCK_RFC3339,
	/* A MariaDB DATETIME(3) literal, "2026-11-29 12:00:00.123": bound
	 * values of the time columns, which hold UTC (see .dev/SCHEMA.md). */
	CLOCK_SQL,
};

/*
 * Write unix ms (UTC) in the given form into out (NUL-terminated). An
 * instant gmtime() cannot represent is written as the epoch, so out always
 * holds a well-formed time. Negative ms round down (-1 is .999 of 1969).
 */
void clock_format_ms(long long ms, enum clock_form form,
    char out[CLOCK_TEXT_MAX]);

/*
 * Parse "YYYY-MM-DD(T|t| )HH:MM:SS[.fraction][Z|z]" as UTC into unix ms
 * (the fraction, 1 to 9 digits, is cut to milliseconds): both forms above,
 * and what the database's DATE_FORMAT(..., '%Y-%m-%dT%H:%i:%s.%f') returns.
 * False, *ms untouched, for anything else: another offset than Z, an
 * impossible date (Feb 30), a leap second, trailing text, NULL.
 */
bool clock_parse_ms(const char *s, long long *ms);

#endif
