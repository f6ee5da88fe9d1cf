/*
 * vdesk-clipboard: the guest end of virtio-desktop's clipboard channel (spec/clipboard.md).
 *
 * It sits between the X session and the virtio-console port "org.virtio-desktop.clipboard.0":
 * - when a program in the guest takes the CLIPBOARD selection (XFixes tells us: no polling), it asks
 *   that program for the text (UTF8_STRING, else STRING; INCR transfers too) and sends it to the host;
 * - when the host sends text, it owns CLIPBOARD and PRIMARY with it and answers the programs that paste.
 *
 * Frames: u16 type, u16 flags (0), u32 length, little-endian, then the payload; at most 1 MiB. Idle, it
 * sleeps in poll() on the X connection and the port. Started by vdesk-session; messages go to stderr
 * (~/.xsession-errors).
 */
#define _GNU_SOURCE
#include <X11/Xatom.h>
#include <X11/Xlib.h>
#include <X11/extensions/Xfixes.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PORT_NAME "org.virtio-desktop.clipboard.0"
#define HEADER 8
#define MAX_PAYLOAD (1u << 20)
#define T_HELLO 1
#define T_TEXT 2
#define VERSION 1

static Display *dpy;
static Window win;
static Atom A_CLIPBOARD, A_UTF8, A_TARGETS, A_TEXT, A_PLAIN, A_INCR, A_PROP, A_ATOM_PAIR;
static int xfixes_event;

static int port = -1;
/* Frames waiting to go out (the port is non-blocking: the host may be slow or have hung up). */
static unsigned char *out;
static size_t out_len, out_off;
/* The frame being read. */
static unsigned char hdr[HEADER];
static size_t hdr_fill;
static unsigned char *in_buf;
static uint32_t in_len, in_fill;
static uint16_t in_type;
static int in_payload;

/* The host's text, owned as CLIPBOARD and PRIMARY while own_mask says so. */
static unsigned char *owned;
static size_t owned_len;
static int own_mask; /* 1 CLIPBOARD, 2 PRIMARY */

/* An INCR transfer in progress (a big selection arriving in pieces). */
static int incr_active, incr_too_big;
static unsigned char *incr_buf;
static size_t incr_len;

static void say(const char *msg) { fprintf(stderr, "vdesk-clipboard: %s\n", msg); }

static int ignore_x_error(Display *d, XErrorEvent *e) {
	/* A requestor window that went away (BadWindow) must not end us, as Xlib's default handler would. */
	(void)d;
	(void)e;
	return 0;
}

static void put_u16(unsigned char *p, unsigned v) { p[0] = v & 0xff; p[1] = (v >> 8) & 0xff; }
static void put_u32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (v >> (8 * i)) & 0xff; }
static uint32_t get_u32(const unsigned char *p) {
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void queue_frame(unsigned type, const unsigned char *data, uint32_t len) {
	if (port < 0 || len > MAX_PAYLOAD) return;
	if (out_off == out_len) out_off = out_len = 0;
	/* A host that reads nothing cannot make this grow past about two whole frames. */
	if (out_len - out_off > 2 * (MAX_PAYLOAD + HEADER)) {
		say("the host is not reading; dropping the clipboard");
		return;
	}
	unsigned char *n = realloc(out, out_len + HEADER + len);
	if (!n) return;
	out = n;
	put_u16(out + out_len, type);
	put_u16(out + out_len + 2, 0);
	put_u32(out + out_len + 4, len);
	if (len) memcpy(out + out_len + HEADER, data, len);
	out_len += HEADER + len;
}

static void flush_port(void) {
	while (port >= 0 && out_off < out_len) {
		ssize_t n = write(port, out + out_off, out_len - out_off);
		if (n > 0) {
			out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR) continue;
		break; /* EAGAIN: poll() says when */
	}
	if (out_off == out_len && out_len > (1u << 16)) {
		free(out);
		out = NULL;
		out_off = out_len = 0;
	}
}

/* The port of our name in /sys/class/virtio-ports, opened; -1 when there is none (yet). */
static int open_port(void) {
	DIR *d = opendir("/sys/class/virtio-ports");
	if (!d) return -1;
	struct dirent *e;
	int fd = -1;
	while ((e = readdir(d)) && fd < 0) {
		if (strncmp(e->d_name, "vport", 5) != 0) continue;
		char path[300], name[128] = "";
		snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f) continue;
		if (!fgets(name, sizeof name, f)) name[0] = 0;
		fclose(f);
		name[strcspn(name, "\n")] = 0;
		if (strcmp(name, PORT_NAME) != 0) continue;
		snprintf(path, sizeof path, "/dev/%s", e->d_name);
		fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) fprintf(stderr, "vdesk-clipboard: %s: %s\n", path, strerror(errno));
	}
	closedir(d);
	return fd;
}

static void request_text(Atom target, Time t) {
	incr_active = 0;
	XConvertSelection(dpy, A_CLIPBOARD, target, A_PROP, win, t);
}

static void close_port(const char *why) {
	if (port < 0) return;
	fprintf(stderr, "vdesk-clipboard: port closed: %s\n", why);
	close(port);
	port = -1;
	out_off = out_len = 0;
	hdr_fill = 0;
	in_payload = 0;
	free(in_buf);
	in_buf = NULL;
}

static void connect_port(void) {
	port = open_port();
	if (port < 0) return;
	unsigned char hello[8];
	put_u32(hello, VERSION);
	put_u32(hello + 4, MAX_PAYLOAD);
	queue_frame(T_HELLO, hello, sizeof hello);
	/* What the guest holds now goes to the host, unless it is ours (the host's own text). */
	Window owner = XGetSelectionOwner(dpy, A_CLIPBOARD);
	if (owner != None && owner != win) request_text(A_UTF8, CurrentTime);
}

/* Latin-1 (STRING) to UTF-8; the result is at most twice as long. */
static unsigned char *latin1_to_utf8(const unsigned char *s, size_t n, size_t *outn) {
	unsigned char *o = malloc(2 * n + 1), *p = o;
	if (!o) return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x80) *p++ = s[i];
		else {
			*p++ = 0xc0 | (s[i] >> 6);
			*p++ = 0x80 | (s[i] & 0x3f);
		}
	}
	*outn = (size_t)(p - o);
	return o;
}

/* UTF-8 to Latin-1 for STRING requestors; characters it cannot hold become '?'. */
static unsigned char *utf8_to_latin1(const unsigned char *s, size_t n, size_t *outn) {
	unsigned char *o = malloc(n + 1), *p = o;
	if (!o) return NULL;
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		if (c < 0x80) { *p++ = c; i++; }
		else if ((c & 0xe0) == 0xc0 && i + 1 < n) {
			unsigned v = (c & 0x1f) << 6 | (s[i + 1] & 0x3f);
			*p++ = v < 0x100 ? v : '?';
			i += 2;
		} else {
			*p++ = '?';
			i++;
			while (i < n && (s[i] & 0xc0) == 0x80) i++;
		}
	}
	*outn = (size_t)(p - o);
	return o;
}

static void send_text(Atom type, const unsigned char *data, size_t n) {
	if (n > MAX_PAYLOAD) {
		say("the clipboard holds more than 1 MiB; not sent to the host");
		return;
	}
	if (type == XA_STRING) {
		size_t m;
		unsigned char *u = latin1_to_utf8(data, n, &m);
		if (u && m <= MAX_PAYLOAD) queue_frame(T_TEXT, u, (uint32_t)m);
		free(u);
		return;
	}
	queue_frame(T_TEXT, data, (uint32_t)n);
}

/* Read (and delete) our property: the whole selection, or an INCR piece. */
static unsigned char *take_property(Atom *type, size_t *n, int *too_big) {
	int format;
	unsigned long items, after;
	unsigned char *data = NULL;
	*too_big = 0;
	if (XGetWindowProperty(dpy, win, A_PROP, 0, MAX_PAYLOAD / 4 + 1, True, AnyPropertyType, type, &format,
			       &items, &after, &data) != Success)
		return NULL;
	if (after > 0) *too_big = 1;
	*n = items * (size_t)(format / 8);
	return data;
}

static void selection_notify(XSelectionEvent *e) {
	if (e->selection != A_CLIPBOARD) return;
	if (e->property == None) {
		/* The owner has no UTF-8: ask for Latin-1. */
		if (e->target == A_UTF8) request_text(XA_STRING, e->time);
		return;
	}
	Atom type;
	size_t n;
	int too_big;
	unsigned char *data = take_property(&type, &n, &too_big);
	if (!data) return;
	if (type == A_INCR) {
		/* Deleting the property (done) asked for the first piece; pieces come as PropertyNotify. */
		incr_active = 1;
		incr_too_big = 0;
		incr_len = 0;
		free(incr_buf);
		incr_buf = NULL;
	} else if (too_big) {
		say("the clipboard holds more than 1 MiB; not sent to the host");
	} else if (type == A_UTF8 || type == XA_STRING || type == A_TEXT) {
		send_text(type, data, n);
	}
	XFree(data);
}

static void incr_piece(void) {
	Atom type;
	size_t n;
	int too_big;
	unsigned char *data = take_property(&type, &n, &too_big);
	if (!data) return;
	if (n == 0) {
		incr_active = 0;
		if (incr_too_big) say("the clipboard holds more than 1 MiB; not sent to the host");
		else send_text(type, incr_buf ? incr_buf : (unsigned char *)"", incr_len);
		free(incr_buf);
		incr_buf = NULL;
		incr_len = 0;
	} else if (!incr_too_big) {
		if (too_big || incr_len + n > MAX_PAYLOAD) {
			incr_too_big = 1;
			free(incr_buf);
			incr_buf = NULL;
		} else {
			unsigned char *b = realloc(incr_buf, incr_len + n);
			if (b) {
				memcpy(b + incr_len, data, n);
				incr_buf = b;
				incr_len += n;
			} else incr_too_big = 1;
		}
	}
	XFree(data);
}

/* Whether `target` names text we hand out as UTF-8. */
static int utf8_target(Atom t) { return t == A_UTF8 || t == A_TEXT || t == A_PLAIN; }

static void selection_request(XSelectionRequestEvent *r) {
	XSelectionEvent reply = {0};
	reply.type = SelectionNotify;
	reply.display = dpy;
	reply.requestor = r->requestor;
	reply.selection = r->selection;
	reply.target = r->target;
	reply.time = r->time;
	reply.property = None;
	Atom prop = r->property == None ? r->target : r->property; /* obsolete clients */
	int mine = (r->selection == A_CLIPBOARD && (own_mask & 1)) || (r->selection == XA_PRIMARY && (own_mask & 2));
	if (mine && owned) {
		if (r->target == A_TARGETS) {
			Atom list[] = {A_TARGETS, A_UTF8, XA_STRING, A_TEXT, A_PLAIN};
			XChangeProperty(dpy, r->requestor, prop, XA_ATOM, 32, PropModeReplace, (unsigned char *)list, 5);
			reply.property = prop;
		} else if (utf8_target(r->target)) {
			XChangeProperty(dpy, r->requestor, prop, A_UTF8, 8, PropModeReplace, owned, (int)owned_len);
			reply.property = prop;
		} else if (r->target == XA_STRING) {
			size_t m;
			unsigned char *l = utf8_to_latin1(owned, owned_len, &m);
			if (l) {
				XChangeProperty(dpy, r->requestor, prop, XA_STRING, 8, PropModeReplace, l, (int)m);
				reply.property = prop;
				free(l);
			}
		}
	}
	XSendEvent(dpy, r->requestor, False, NoEventMask, (XEvent *)&reply);
}

/* The host's text: own CLIPBOARD and PRIMARY with it (an empty text gives them up). */
static void host_text(unsigned char *data, uint32_t n) {
	free(owned);
	owned = data;
	owned_len = n;
	if (n == 0) {
		if (own_mask & 1) XSetSelectionOwner(dpy, A_CLIPBOARD, None, CurrentTime);
		if (own_mask & 2) XSetSelectionOwner(dpy, XA_PRIMARY, None, CurrentTime);
		own_mask = 0;
		return;
	}
	XSetSelectionOwner(dpy, A_CLIPBOARD, win, CurrentTime);
	XSetSelectionOwner(dpy, XA_PRIMARY, win, CurrentTime);
	own_mask = (XGetSelectionOwner(dpy, A_CLIPBOARD) == win ? 1 : 0) |
		   (XGetSelectionOwner(dpy, XA_PRIMARY) == win ? 2 : 0);
}

/* Bytes from the host: frames, each bounded before anything is allocated. */
static void port_bytes(const unsigned char *b, size_t n) {
	size_t i = 0;
	while (i < n && port >= 0) {
		if (!in_payload) {
			size_t k = HEADER - hdr_fill < n - i ? HEADER - hdr_fill : n - i;
			memcpy(hdr + hdr_fill, b + i, k);
			hdr_fill += k;
			i += k;
			if (hdr_fill < HEADER) return;
			in_type = (uint16_t)(hdr[0] | hdr[1] << 8);
			in_len = get_u32(hdr + 4);
			if ((hdr[2] | hdr[3]) != 0 || in_len > MAX_PAYLOAD) {
				close_port("bad frame header from the host");
				return;
			}
			in_buf = malloc(in_len ? in_len : 1);
			if (!in_buf) {
				close_port("out of memory");
				return;
			}
			in_fill = 0;
			in_payload = 1;
		}
		size_t k = in_len - in_fill < n - i ? in_len - in_fill : n - i;
		memcpy(in_buf + in_fill, b + i, k);
		in_fill += (uint32_t)k;
		i += k;
		if (in_fill == in_len) {
			in_payload = 0;
			hdr_fill = 0;
			if (in_type == T_TEXT) host_text(in_buf, in_len); /* keeps the buffer */
			else free(in_buf);
			in_buf = NULL;
		}
	}
}

static void x_event(XEvent *e) {
	if (e->type == xfixes_event + XFixesSelectionNotify) {
		XFixesSelectionNotifyEvent *s = (XFixesSelectionNotifyEvent *)e;
		if (s->selection == A_CLIPBOARD && s->owner != None && s->owner != win && port >= 0)
			request_text(A_UTF8, s->selection_timestamp);
		return;
	}
	switch (e->type) {
	case SelectionNotify:
		if (port >= 0) selection_notify(&e->xselection);
		break;
	case SelectionRequest:
		selection_request(&e->xselectionrequest);
		break;
	case SelectionClear:
		if (e->xselectionclear.selection == A_CLIPBOARD) own_mask &= ~1;
		if (e->xselectionclear.selection == XA_PRIMARY) own_mask &= ~2;
		break;
	case PropertyNotify:
		if (incr_active && e->xproperty.atom == A_PROP && e->xproperty.state == PropertyNewValue) incr_piece();
		break;
	}
}

int main(void) {
	signal(SIGPIPE, SIG_IGN);
	dpy = XOpenDisplay(NULL);
	if (!dpy) {
		say("cannot open the display");
		return 1;
	}
	XSetErrorHandler(ignore_x_error);
	int err_base;
	if (!XFixesQueryExtension(dpy, &xfixes_event, &err_base)) {
		say("the X server has no XFixes");
		return 1;
	}
	A_CLIPBOARD = XInternAtom(dpy, "CLIPBOARD", False);
	A_UTF8 = XInternAtom(dpy, "UTF8_STRING", False);
	A_TARGETS = XInternAtom(dpy, "TARGETS", False);
	A_TEXT = XInternAtom(dpy, "TEXT", False);
	A_PLAIN = XInternAtom(dpy, "text/plain;charset=utf-8", False);
	A_INCR = XInternAtom(dpy, "INCR", False);
	A_PROP = XInternAtom(dpy, "VDESK_CLIPBOARD", False);
	A_ATOM_PAIR = XInternAtom(dpy, "ATOM_PAIR", False);
	(void)A_ATOM_PAIR;
	win = XCreateSimpleWindow(dpy, DefaultRootWindow(dpy), -10, -10, 1, 1, 0, 0, 0);
	XSelectInput(dpy, win, PropertyChangeMask);
	XFixesSelectSelectionInput(dpy, DefaultRootWindow(dpy), A_CLIPBOARD, XFixesSetSelectionOwnerNotifyMask);

	/* Without udev the port may be named (and given to us by vdesk-init) a moment after we start. */
	int tries = 0;
	for (; port < 0 && tries < 20; tries++) {
		connect_port();
		if (port < 0) sleep(1);
	}
	if (port < 0) {
		say("no port " PORT_NAME " (the machine has no clipboard device); exiting");
		return 0;
	}
	say("running");
	int retry_ms = -1;
	for (;;) {
		while (XPending(dpy)) {
			XEvent e;
			XNextEvent(dpy, &e);
			x_event(&e);
		}
		flush_port();
		XFlush(dpy);
		struct pollfd p[2] = {{ConnectionNumber(dpy), POLLIN, 0}, {port, POLLIN, 0}};
		if (out_off < out_len) p[1].events |= POLLOUT;
		int n = poll(p, port >= 0 ? 2 : 1, port >= 0 ? -1 : retry_ms);
		if (n < 0 && errno != EINTR) return 1;
		if (p[0].revents & (POLLERR | POLLHUP)) return 0; /* the X server went away */
		if (port < 0) {
			/* The port was closed (a bad frame, or the host hung up): once the wait is over, open it
			 * again, which resets it; X events meanwhile are handled above. */
			if (n == 0) {
				connect_port();
				retry_ms = retry_ms < 8000 ? retry_ms * 2 : retry_ms;
			}
			continue;
		}
		if (p[1].revents & POLLIN) {
			static unsigned char buf[65536];
			ssize_t k = read(port, buf, sizeof buf);
			if (k > 0) port_bytes(buf, (size_t)k);
			else if (k == 0 || (errno != EAGAIN && errno != EINTR)) close_port("end of stream");
		} else if (p[1].revents & (POLLHUP | POLLERR)) {
			close_port("the host hung up");
		}
		if (port < 0) retry_ms = 1000;
	}
}
