/*
 * UUIDv7 (RFC 9562 §5.7): 48-bit Unix time in milliseconds, version 7,
 * 12 bits of rand_a used as a counter, variant 10, 62 random bits.
 *
 * Monotonicity follows RFC 9562 §6.2 method 1 (fixed-length dedicated
 * counter): the counter is seeded with 11 random bits at each new
 * millisecond, leaving at least 2048 increments before it would overflow;
 * on overflow, and when the clock steps backwards, the timestamp is carried
 * forward from the last one issued instead (§6.2 "counter rollover" and
 * "monotonic error checking"). The state is per process and not locked:
 * workers are processes, not threads.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "clock.h"
#include "uuid.h"

static uint64_t last_ms;
static unsigned counter; /* 12 bits */
static int sodium_ready;

static unsigned
counter_seed(void)
{
	uint16_t r;

	randombytes_buf(&r, sizeof(r));
	return r & 0x7ffu;
}

/*
 * Write a fresh lower-case UUIDv7 and a NUL into out. Aborts only when
 * libsodium cannot initialise its random source (no safe id is possible).
 */
void
uuid_v7(char out[UUID_STR_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	uint64_t ms;
	size_t i, o;

	if (!sodium_ready) {
		if (sodium_init() < 0)
			abort();
		sodium_ready = 1;
	}

	ms = (uint64_t)clock_real_ms();
	if (ms > last_ms) {
		last_ms = ms;
		counter = counter_seed();
	} else if (++counter > 0xfffu) {
		last_ms++;
		counter = counter_seed();
	}
	ms = last_ms & 0xffffffffffffull;

	randombytes_buf(b + 8, 8);
	for (i = 0; i < 6; i++)
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	b[6] = (unsigned char)(0x70u | (counter >> 8));
	b[7] = (unsigned char)(counter & 0xffu);
	b[8] = (unsigned char)(0x80u | (b[8] & 0x3fu));

	for (i = 0, o = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0xfu];
	}
	out[o] = '\0';
}

/* True when s is a canonical 8-4-4-4-12 hex UUID (any version, any case). */
bool
uuid_valid(const char *s)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; i < UUID_STR_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	}
	return s[UUID_STR_LEN] == '\0';
}
