/*
 * drm-pattern: put a known picture on the first connected DRM output, so that a host-side test can check
 * the display path pixel by pixel (guest DRM driver -> virtio-gpu commands -> our device -> screenshot).
 *
 *   drm-pattern [--seconds N] [--wait-mode WxH] [--bench FRAMES]
 *
 * Prints "DRM-MODES <list>" and "DRM-PATTERN-READY WxH" once the picture is scanned out. With
 * --wait-mode it then polls the connector until its preferred mode is WxH (the host resized the display),
 * draws the picture again at that size and prints "DRM-PATTERN-READY WxH" again.
 *
 * --bench repaints the whole screen FRAMES times (a different colour each frame, each flushed with a
 * whole-screen DIRTYFB, which waits for the device) and prints "DRM-BENCH WxH frames=N ms=T".
 *
 * The picture: four quadrants, red (top left), green (top right), blue (bottom left), white (bottom
 * right), in XRGB8888. Raw ioctls instead of libdrm, so the tool needs nothing but the kernel headers.
 */
#include <drm/drm.h>
#include <drm/drm_mode.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_ITEMS 16
#define MAX_MODES 64

static int fd;
static uint32_t crtc_id, conn_id;

static void die(const char *what) {
	printf("DRM-PATTERN-ERROR %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static int xioctl(unsigned long req, void *arg) {
	int r;
	do {
		r = ioctl(fd, req, arg);
	} while (r == -1 && (errno == EINTR || errno == EAGAIN));
	return r;
}

/* Reads the connector's modes (this asks the driver to probe the output again). */
static int get_modes(struct drm_mode_modeinfo *modes) {
	struct drm_mode_get_connector c;
	memset(&c, 0, sizeof c);
	c.connector_id = conn_id;
	if (xioctl(DRM_IOCTL_MODE_GETCONNECTOR, &c)) die("GETCONNECTOR");
	uint32_t n = c.count_modes > MAX_MODES ? MAX_MODES : c.count_modes;
	struct drm_mode_get_connector c2;
	memset(&c2, 0, sizeof c2);
	c2.connector_id = conn_id;
	c2.count_modes = n;
	c2.modes_ptr = (uintptr_t)modes;
	if (xioctl(DRM_IOCTL_MODE_GETCONNECTOR, &c2)) die("GETCONNECTOR modes");
	return (int)(c2.count_modes < n ? c2.count_modes : n);
}

static int preferred(const struct drm_mode_modeinfo *modes, int n) {
	for (int i = 0; i < n; i++)
		if (modes[i].type & DRM_MODE_TYPE_PREFERRED) return i;
	return 0;
}

static struct {
	uint8_t *px;
	uint32_t w, h, pitch, fb;
} cur;

static void show(struct drm_mode_modeinfo *mode) {
	struct drm_mode_create_dumb cd = {.width = mode->hdisplay, .height = mode->vdisplay, .bpp = 32};
	if (xioctl(DRM_IOCTL_MODE_CREATE_DUMB, &cd)) die("CREATE_DUMB");
	struct drm_mode_fb_cmd fb = {.width = cd.width, .height = cd.height, .pitch = cd.pitch, .bpp = 32, .depth = 24, .handle = cd.handle};
	if (xioctl(DRM_IOCTL_MODE_ADDFB, &fb)) die("ADDFB");
	struct drm_mode_map_dumb md = {.handle = cd.handle};
	if (xioctl(DRM_IOCTL_MODE_MAP_DUMB, &md)) die("MAP_DUMB");
	uint8_t *px = mmap(0, cd.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)md.offset);
	if (px == MAP_FAILED) die("mmap");
	uint32_t w = cd.width, h = cd.height;
	for (uint32_t y = 0; y < h; y++) {
		uint32_t *row = (uint32_t *)(px + (size_t)y * cd.pitch);
		for (uint32_t x = 0; x < w; x++) {
			int right = x >= w / 2, bottom = y >= h / 2;
			row[x] = !bottom ? (right ? 0x0000ff00u : 0x00ff0000u) : (right ? 0x00ffffffu : 0x000000ffu);
		}
	}
	struct drm_mode_crtc sc;
	memset(&sc, 0, sizeof sc);
	sc.crtc_id = crtc_id;
	sc.fb_id = fb.fb_id;
	sc.set_connectors_ptr = (uintptr_t)&conn_id;
	sc.count_connectors = 1;
	sc.mode = *mode;
	sc.mode_valid = 1;
	if (xioctl(DRM_IOCTL_MODE_SETCRTC, &sc)) die("SETCRTC");
	/* A whole-frame dirty rectangle: the driver turns it into TRANSFER_TO_HOST_2D + RESOURCE_FLUSH. */
	struct drm_clip_rect clip = {0, 0, (unsigned short)w, (unsigned short)h};
	struct drm_mode_fb_dirty_cmd dirty = {.fb_id = fb.fb_id, .num_clips = 1, .clips_ptr = (uintptr_t)&clip};
	xioctl(DRM_IOCTL_MODE_DIRTYFB, &dirty); /* optional for drivers that flush on SETCRTC */
	cur.px = px;
	cur.w = w;
	cur.h = h;
	cur.pitch = cd.pitch;
	cur.fb = fb.fb_id;
	printf("DRM-PATTERN-READY %ux%u\n", w, h);
	fflush(stdout);
}

static void bench(int frames) {
	struct timespec t0, t1;
	struct drm_clip_rect clip = {0, 0, (unsigned short)cur.w, (unsigned short)cur.h};
	struct drm_mode_fb_dirty_cmd dirty = {.fb_id = cur.fb, .num_clips = 1, .clips_ptr = (uintptr_t)&clip};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int f = 0; f < frames; f++) {
		uint32_t colour = (uint32_t)(f * 0x1f3d5b) & 0x00ffffffu;
		for (uint32_t y = 0; y < cur.h; y++) {
			uint32_t *row = (uint32_t *)(cur.px + (size_t)y * cur.pitch);
			for (uint32_t x = 0; x < cur.w; x++) row[x] = colour;
		}
		if (xioctl(DRM_IOCTL_MODE_DIRTYFB, &dirty)) die("DIRTYFB");
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	printf("DRM-BENCH %ux%u frames=%d ms=%ld\n", cur.w, cur.h, frames, ms);
	fflush(stdout);
}

int main(int argc, char **argv) {
	int seconds = 3600, frames = 0;
	unsigned want_w = 0, want_h = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--bench") && i + 1 < argc) frames = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--wait-mode") && i + 1 < argc) {
			if (sscanf(argv[++i], "%ux%u", &want_w, &want_h) != 2) {
				fprintf(stderr, "drm-pattern: --wait-mode WxH\n");
				return 2;
			}
		} else {
			fprintf(stderr, "usage: drm-pattern [--seconds N] [--wait-mode WxH] [--bench FRAMES]\n");
			return 2;
		}
	}
	fd = open("/dev/dri/card0", O_RDWR | O_CLOEXEC);
	if (fd < 0) die("open /dev/dri/card0");

	uint32_t crtcs[MAX_ITEMS], conns[MAX_ITEMS];
	struct drm_mode_card_res res;
	memset(&res, 0, sizeof res);
	if (xioctl(DRM_IOCTL_MODE_GETRESOURCES, &res)) die("GETRESOURCES");
	if (res.count_crtcs == 0 || res.count_connectors == 0) {
		errno = ENODEV;
		die("no crtc or connector");
	}
	struct drm_mode_card_res r2;
	memset(&r2, 0, sizeof r2);
	r2.count_crtcs = res.count_crtcs > MAX_ITEMS ? MAX_ITEMS : res.count_crtcs;
	r2.count_connectors = res.count_connectors > MAX_ITEMS ? MAX_ITEMS : res.count_connectors;
	r2.crtc_id_ptr = (uintptr_t)crtcs;
	r2.connector_id_ptr = (uintptr_t)conns;
	if (xioctl(DRM_IOCTL_MODE_GETRESOURCES, &r2)) die("GETRESOURCES ids");
	crtc_id = crtcs[0];
	conn_id = conns[0];

	struct drm_mode_modeinfo modes[MAX_MODES];
	int n = get_modes(modes);
	if (n <= 0) {
		errno = ENOENT;
		die("connector has no modes");
	}
	printf("DRM-MODES");
	for (int i = 0; i < n; i++) printf(" %ux%u%s", modes[i].hdisplay, modes[i].vdisplay, modes[i].type & DRM_MODE_TYPE_PREFERRED ? "*" : "");
	printf("\n");
	show(&modes[preferred(modes, n)]);
	if (frames > 0) {
		bench(frames);
		return 0;
	}

	time_t end = time(0) + seconds;
	int waiting = want_w != 0;
	while (time(0) < end) {
		usleep(100 * 1000);
		if (!waiting) continue;
		n = get_modes(modes);
		if (n <= 0) continue;
		int p = preferred(modes, n);
		if (modes[p].hdisplay == want_w && modes[p].vdisplay == want_h) {
			show(&modes[p]);
			waiting = 0;
		}
	}
	return 0;
}
