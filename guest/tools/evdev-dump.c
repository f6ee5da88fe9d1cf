/*
 * evdev-dump: print what the guest's input devices say about themselves and every event they deliver,
 * one line each, so a host-side test can assert exact codes, values and frames.
 *
 *   evdev-dump [--seconds N]
 *
 * For each /dev/input/eventN:
 *   DEV eventN name="..." bus=0x06 vendor=0x.. product=0x.. props=0x.. ev=0x.. keys=K rel=0x.. abs=0x..
 *       [slots=A..B] [x=MIN..MAX] [y=MIN..MAX] [rep=1]
 * then "EVDEV-READY", then one line per event:  EV eventN TYPE CODE VALUE  (EV_SYN included, so frame
 * boundaries show). Exits after N seconds (default 600).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAXDEV 32
#define BITS(n) (((n) + 7) / 8)

static int has(const unsigned char *b, int bit) { return (b[bit / 8] >> (bit % 8)) & 1; }

static unsigned long low_word(const unsigned char *b, int nbytes) {
	unsigned long v = 0;
	for (int i = nbytes - 1; i >= 0; i--) v = (v << 8) | b[i];
	return v;
}

int main(int argc, char **argv) {
	int seconds = 600;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: evdev-dump [--seconds N]\n");
			return 2;
		}
	}
	struct pollfd pf[MAXDEV];
	int idx[MAXDEV], n = 0;
	for (int i = 0; i < MAXDEV; i++) {
		char path[32];
		snprintf(path, sizeof path, "/dev/input/event%d", i);
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) continue;
		char name[128] = "";
		struct input_id id;
		unsigned char props[BITS(INPUT_PROP_MAX + 1)], ev[BITS(EV_MAX + 1)], keys[BITS(KEY_MAX + 1)],
		    rel[BITS(REL_MAX + 1)], absb[BITS(ABS_MAX + 1)];
		memset(&id, 0, sizeof id);
		memset(props, 0, sizeof props);
		memset(ev, 0, sizeof ev);
		memset(keys, 0, sizeof keys);
		memset(rel, 0, sizeof rel);
		memset(absb, 0, sizeof absb);
		ioctl(fd, EVIOCGNAME(sizeof name - 1), name);
		ioctl(fd, EVIOCGID, &id);
		ioctl(fd, EVIOCGPROP(sizeof props), props);
		ioctl(fd, EVIOCGBIT(0, sizeof ev), ev);
		ioctl(fd, EVIOCGBIT(EV_KEY, sizeof keys), keys);
		ioctl(fd, EVIOCGBIT(EV_REL, sizeof rel), rel);
		ioctl(fd, EVIOCGBIT(EV_ABS, sizeof absb), absb);
		int nkeys = 0;
		for (int k = 0; k <= KEY_MAX; k++) nkeys += has(keys, k);
		printf("DEV event%d name=\"%s\" bus=0x%02x vendor=0x%04x product=0x%04x props=0x%lx ev=0x%lx keys=%d rel=0x%lx abs=0x%lx",
		       i, name, id.bustype, id.vendor, id.product, low_word(props, sizeof props), low_word(ev, sizeof ev), nkeys,
		       low_word(rel, sizeof rel), low_word(absb, 8));
		struct input_absinfo a;
		if (has(absb, ABS_MT_SLOT) && !ioctl(fd, EVIOCGABS(ABS_MT_SLOT), &a)) printf(" slots=%d..%d", a.minimum, a.maximum);
		if (has(absb, ABS_X) && !ioctl(fd, EVIOCGABS(ABS_X), &a)) printf(" x=%d..%d", a.minimum, a.maximum);
		if (has(absb, ABS_Y) && !ioctl(fd, EVIOCGABS(ABS_Y), &a)) printf(" y=%d..%d", a.minimum, a.maximum);
		if (has(ev, EV_REP)) printf(" rep=1");
		if (has(keys, BTN_LEFT)) printf(" btn_left=1");
		if (has(keys, BTN_TOUCH)) printf(" btn_touch=1");
		printf("\n");
		pf[n].fd = fd;
		pf[n].events = POLLIN;
		idx[n++] = i;
	}
	printf("EVDEV-READY %d\n", n);
	fflush(stdout);
	time_t end = time(0) + seconds;
	while (time(0) < end) {
		int r = poll(pf, n, 1000);
		if (r < 0 && errno != EINTR) break;
		for (int d = 0; d < n; d++) {
			if (!(pf[d].revents & POLLIN)) continue;
			struct input_event e[64];
			ssize_t got;
			while ((got = read(pf[d].fd, e, sizeof e)) > 0) {
				for (size_t k = 0; k < (size_t)got / sizeof e[0]; k++)
					printf("EV event%d %u %u %d\n", idx[d], e[k].type, e[k].code, e[k].value);
			}
		}
		fflush(stdout);
	}
	return 0;
}
