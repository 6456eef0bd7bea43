/*
 * memcpy and memmove for the static (musl) x86_64 build; build.rs compiles this file only for
 * that target, where it takes precedence over libc.a's (an archive member is only pulled in
 * for a symbol still undefined, and both symbols are defined here first).
 *
 * Why: musl's x86_64 memcpy is `rep movsq` plus byte loops, whose start-up cost dominates the
 * copies a proxy makes (191 calls per request, most under 256 bytes: futures and requests moved
 * between layers, header writes). It was 12.8 % of the static gateway's CPU against 3.5 % for
 * glibc's (BENCHMARKS.md). Small copies here are a few overlapping SSE2 (x86_64 baseline)
 * moves; large ones `rep movsb`, fast on every CPU with ERMS.
 *
 * musl's memmove calls into its memcpy's forward loop, so memmove is replaced too: with both
 * defined here, neither of musl's objects is linked. Tested by native/mem_test.c (`make test`),
 * built with MEM_PREFIX so the functions under test do not replace the test's own libc.
 */
#include <emmintrin.h>
#include <stddef.h>
#include <stdint.h>

#ifndef MEM_PREFIX
#define MEM_PREFIX
#endif
#define CONCAT2(a, b) a##b
#define CONCAT(a, b) CONCAT2(a, b)
#define NAME(f) CONCAT(MEM_PREFIX, f)

/* From this size on, `rep movsb` beats a vector loop (glibc's default threshold for SSE2). */
#define REP_MOVSB_FROM 2048

typedef uint64_t __attribute__((aligned(1), may_alias)) u64u;
typedef uint32_t __attribute__((aligned(1), may_alias)) u32u;
typedef uint16_t __attribute__((aligned(1), may_alias)) u16u;

static inline __m128i load16(const unsigned char *p) { return _mm_loadu_si128((const __m128i *)p); }
static inline void store16(unsigned char *p, __m128i v) { _mm_storeu_si128((__m128i *)p, v); }

/* n <= 32. Every byte is read before any is written, so the ranges may overlap. */
static inline void copy_small(unsigned char *d, const unsigned char *s, size_t n)
{
	if (n >= 16) {
		__m128i head = load16(s), tail = load16(s + n - 16);
		store16(d, head);
		store16(d + n - 16, tail);
	} else if (n >= 8) {
		uint64_t head = *(const u64u *)s, tail = *(const u64u *)(s + n - 8);
		*(u64u *)d = head;
		*(u64u *)(d + n - 8) = tail;
	} else if (n >= 4) {
		uint32_t head = *(const u32u *)s, tail = *(const u32u *)(s + n - 4);
		*(u32u *)d = head;
		*(u32u *)(d + n - 4) = tail;
	} else if (n >= 2) {
		uint16_t head = *(const u16u *)s, tail = *(const u16u *)(s + n - 2);
		*(u16u *)d = head;
		*(u16u *)(d + n - 2) = tail;
	} else if (n == 1) {
		*d = *s;
	}
}

static inline void rep_movsb(unsigned char *d, const unsigned char *s, size_t n)
{
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

/* n > 32, ranges disjoint. */
static void copy_large(unsigned char *d, const unsigned char *s, size_t n)
{
	if (n >= REP_MOVSB_FROM) {
		rep_movsb(d, s, n);
		return;
	}
	/* The last 32 bytes are loaded first and stored last, over whatever the loop wrote. */
	__m128i tail0 = load16(s + n - 32), tail1 = load16(s + n - 16);
	unsigned char *end = d + n;
	while (n > 32) {
		__m128i a = load16(s), b = load16(s + 16);
		store16(d, a);
		store16(d + 16, b);
		s += 32;
		d += 32;
		n -= 32;
	}
	store16(end - 32, tail0);
	store16(end - 16, tail1);
}

void *NAME(memcpy)(void *restrict dest, const void *restrict src, size_t n)
{
	unsigned char *d = dest;
	const unsigned char *s = src;
	if (n <= 32)
		copy_small(d, s, n);
	else
		copy_large(d, s, n);
	return dest;
}

void *NAME(memmove)(void *dest, const void *src, size_t n)
{
	unsigned char *d = dest;
	const unsigned char *s = src;
	uintptr_t di = (uintptr_t)d, si = (uintptr_t)s;
	if (n <= 32) {
		copy_small(d, s, n);
	} else if (di + n <= si || si + n <= di) {
		copy_large(d, s, n);
	} else if (di < si) {
		/* Forward, 16 bytes at a time: each block is read before it is written, and every
		 * write lands below the bytes still to be read. */
		for (; n >= 16; n -= 16, d += 16, s += 16)
			store16(d, load16(s));
		copy_small(d, s, n);
	} else if (di > si) {
		/* Backward, the mirror image. */
		while (n >= 16) {
			n -= 16;
			store16(d + n, load16(s + n));
		}
		copy_small(d, s, n);
	}
	return dest;
}
