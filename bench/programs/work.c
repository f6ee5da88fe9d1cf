/*
 * A fixed CPU workload for bench/cpu.ts, written for this project: list manipulation, a small integer
 * matrix product, a CRC and a byte-level state machine, the mix of pointer chasing, multiplies, branches
 * and loads/stores that compiled C spends its time on. ITER sets the length; the checksum it prints
 * proves both machines did the same work.
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
	}
	kv("checksum", sum);
	return 0;
}
