/* Milliseconds from the two clocks the service uses. */
#ifndef BD_CLOCK_H
#define BD_CLOCK_H

/* Monotonic ms: durations, deadlines, backoff (never goes backwards). */
long long clock_mono_ms(void);
/* Wall clock, unix ms (UTC): timestamps shown to users and stored. */
long long clock_real_ms(void);

#endif
