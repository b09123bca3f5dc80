/* Clocks and time text: see clock.h. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"

static long long
ms(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long
clock_mono_ms(void)
{
	return ms(CLOCK_MONOTONIC);
}

long long
clock_real_ms(void)
{
	return ms(CLOCK_REALTIME);
}

/* See clock.h. */
void
clock_format_ms(long long ms_, enum clock_form form, char out[CLOCK_TEXT_MAX])
{
	long long sec = ms_ / 1000, frac = ms_ % 1000;
	struct tm tm;
	time_t t;

	if (frac < 0) {
		frac += 1000;
		sec--;
	}
	t = (time_t)sec;
	if ((long long)t != sec || gmtime_r(&t, &tm) == NULL ||
	    tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = 70;
		tm.tm_mday = 1;
		frac = 0;
	}
	snprintf(out, CLOCK_TEXT_MAX, "%04d-%02d-%02d%c%02d:%02d:%02d.%03d%s",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	    form == CLOCK_SQL ? ' ' : 'T', tm.tm_hour, tm.tm_min, tm.tm_sec,
	    (int)frac, form == CLOCK_SQL ? "" : "Z");
}

/* n decimal digits at *p into *v; advances *p. False if any is not one. */
static bool
digits(const char **p, int n, int *v)
{
	*v = 0;
	while (n-- > 0) {
		if (**p < '0' || **p > '9')
			return false;
		*v = *v * 10 + (**p - '0');
		(*p)++;
	}
	return true;
}

/* Whether *p is one of the characters in any (then step past it). */
static bool
sep(const char **p, const char *any)
{
	if (**p == '\0' || strchr(any, **p) == NULL)
		return false;
	(*p)++;
	return true;
}

/* See clock.h. */
bool
clock_parse_ms(const char *s, long long *out)
{
	int y, mo, d, h, mi, sec, frac = 0, nfrac = 0;
	struct tm tm, back;
	const char *p = s;
	time_t t;

	if (p == NULL || !digits(&p, 4, &y) || !sep(&p, "-") ||
	    !digits(&p, 2, &mo) || !sep(&p, "-") || !digits(&p, 2, &d) ||
	    !sep(&p, "Tt ") || !digits(&p, 2, &h) || !sep(&p, ":") ||
	    !digits(&p, 2, &mi) || !sep(&p, ":") || !digits(&p, 2, &sec))
		return false;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9' && nfrac < 9) {
			if (nfrac < 3)
				frac = frac * 10 + (*p - '0');
			p++;
			nfrac++;
		}
		if (nfrac == 0 || (*p >= '0' && *p <= '9'))
			return false;
		for (; nfrac < 3; nfrac++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 59)
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm() normalises Feb 30 to Mar 2: refuse what moved. */
	if (gmtime_r(&t, &back) == NULL || back.tm_mday != d ||
	    back.tm_mon != mo - 1 || back.tm_year != y - 1900)
		return false;
	*out = (long long)t * 1000 + frac;
	return true;
}
