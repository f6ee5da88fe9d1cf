/*
 * A fixed CPU workload for bench/cpu.ts, written for this project: list manipulation, a small integer
 * matrix product, a CRC, a byte-level state machine, and records with strings and indirect calls; the
 * mix of pointer chasing, multiplies, branches, calls and loads/stores that compiled C spends its time
 * on. ITER sets the length; the checksum it prints proves both machines did the same work.
 */
#include "lib.h"

#ifndef ITER
#define ITER 400
#endif

#define NODES 200
#define MAT 16
#define BUF 512

struct node {
	struct node *next;
	int key;
	int val;
};

static struct node pool[NODES];
static int ma[MAT][MAT], mb[MAT][MAT], mc[MAT][MAT];
static unsigned char buf[BUF];

static u32 seed = 12345;
static u32 rnd(void) {
	seed = seed * 1103515245u + 12345u;
	return seed >> 8;
}

static struct node *build_list(void) {
	struct node *head = 0;
	for (int i = 0; i < NODES; i++) {
		pool[i].key = (int)(rnd() % 1000);
		pool[i].val = i;
		pool[i].next = head;
		head = &pool[i];
	}
	return head;
}

static struct node *reverse(struct node *h) {
	struct node *prev = 0;
	while (h) {
		struct node *n = h->next;
		h->next = prev;
		prev = h;
		h = n;
	}
	return prev;
}

/* insertion sort by key */
static struct node *sort(struct node *h) {
	struct node *out = 0;
	while (h) {
		struct node *n = h->next, **p = &out;
		while (*p && (*p)->key < h->key) p = &(*p)->next;
		h->next = *p;
		*p = h;
		h = n;
	}
	return out;
}

static u32 list_work(void) {
	struct node *h = sort(reverse(build_list()));
	u32 s = 0;
	for (int i = 0; h; h = h->next, i++) s += (u32)(h->key * (i + 1)) ^ (u32)h->val;
	return s;
}

static u32 matrix_work(int it) {
	for (int i = 0; i < MAT; i++)
		for (int j = 0; j < MAT; j++) {
			ma[i][j] = (i * 3 + j + it) & 31;
			mb[i][j] = (i ^ j) - 7;
		}
	for (int i = 0; i < MAT; i++)
		for (int j = 0; j < MAT; j++) {
			int acc = 0;
			for (int k = 0; k < MAT; k++) acc += ma[i][k] * mb[k][j];
			mc[i][j] = acc;
		}
	u32 s = 0;
	for (int i = 0; i < MAT; i++) s = s * 31 + (u32)mc[i][(i * 5) % MAT];
	return s;
}

static u32 crc_work(void) {
	for (int i = 0; i < BUF; i++) buf[i] = (unsigned char)rnd();
	u32 crc = 0xffffffffu;
	for (int i = 0; i < BUF; i++) {
		crc ^= buf[i];
		for (int b = 0; b < 8; b++) crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}

/* Records, strings and calls through pointers: the procedure-call and string-handling mix that
 * synthetic integer benchmarks of the Dhrystone kind stress (written here from that description). */
struct rec {
	struct rec *link;
	int kind;
	int num;
	char name[32];
};

static struct rec recs[8];

static void copy_str(char *d, const char *s) {
	while ((*d++ = *s++) != 0) {
	}
}

static int cmp_str(const char *a, const char *b) {
	while (*a && *a == *b) a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

static int step_add(int a, int b) { return a + b; }
static int step_mix(int a, int b) { return (a ^ (b << 3)) - b; }
static int step_sel(int a, int b) { return a > b ? a - b : b - a; }
static int (*const steps[3])(int, int) = {step_add, step_mix, step_sel};

static u32 rec_work(int it) {
	static const char *const words[4] = {"ALPHA STRING, FIRST", "BRAVO STRING, SECOND",
					     "ALPHA STRING, THIRD", "DELTA STRING, FOURTH"};
	u32 s = 0;
	for (int i = 0; i < 8; i++) {
		struct rec *r = &recs[i];
		r->link = &recs[(i + 3) & 7];
		r->kind = (i + it) % 5;
		r->num = i * 17 + it;
		copy_str(r->name, words[(i + it) & 3]);
	}
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 8; i++) {
			struct rec *r = &recs[i];
			struct rec tmp = *r->link; /* struct assignment */
			int c = cmp_str(r->name, tmp.name);
			switch (r->kind) {
			case 0: r->num = steps[0](r->num, c); break;
			case 1: r->num = steps[1](r->num, tmp.num); break;
			case 2: r->num = steps[2](r->num, round); break;
			case 3: r->kind = (r->kind + c) & 3; break;
			default: r->num++; break;
			}
			if (c < 0) copy_str(r->name, tmp.name);
			s += (u32)r->num + (u32)r->name[(round + i) & 15];
		}
	}
	return s;
}

/* Classify the bytes as a tiny lexer would: digits, words, separators. */
static u32 state_work(void) {
	int state = 0;
	u32 counts[3] = {0, 0, 0};
	for (int i = 0; i < BUF; i++) {
		unsigned char c = buf[i] % 96 + 32;
		int cls = (c >= '0' && c <= '9') ? 0 : ((c | 32) >= 'a' && (c | 32) <= 'z') ? 1 : 2;
		if (cls != state) {
			counts[state]++;
			state = cls;
		}
	}
	return counts[0] * 7 + counts[1] * 13 + counts[2];
}

int main(void) {
	u32 sum = 0;
	for (int it = 0; it < ITER; it++) {
		sum += list_work();
		sum ^= matrix_work(it);
		sum += crc_work();
		sum ^= state_work() << (it & 7);
		sum += rec_work(it);
	}
	kv("checksum", sum);
	return 0;
}
