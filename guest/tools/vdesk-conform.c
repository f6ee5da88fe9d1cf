/*
 * vdesk-conform: check, from inside a running Linux guest, the machine against spec/virtio-desktop.md.
 *
 *   vdesk-conform
 *
 * Prints one line per numbered requirement of the specification, in its order:
 *
 *   VD-301 met|not-met|n/a <detail>
 *
 * then a summary line. Exit status 0 when no MUST requirement is not-met, 1 otherwise.
 *
 * Everything comes from what the kernel exposes: the device tree (/sys/firmware/devicetree/base), the
 * kernel log (SBI extensions), /sys/bus/virtio/devices (IDs, negotiated features, drivers), the evdev
 * capabilities of /dev/input/event*, DRM connectors, the framebuffer, PCI functions and the inventory the
 * virtio_power driver shows in sysfs. A feature counts as offered when it was negotiated: Linux accepts
 * VERSION_1, ACCESS_PLATFORM, INDIRECT_DESC and EVENT_IDX whenever they are offered, and its drivers accept
 * every device feature the specification requires. Nothing here writes anywhere.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/input.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

/* Provisional virtio-power device ID (spec/virtio-power.md §1); one place, like the driver's. */
#define VIRTIO_ID_POWER 58
#define STR_(x) #x
#define STR(x) STR_(x)

enum { MUST, SHOULD };
enum { MET, NOTMET, NA };
static const char *const status_name[] = {"met", "not-met", "n/a"};

static int counts[3], must_failed;
static char failed_ids[512];

/* snprintf for paths and fields: output is cut at cap on purpose (names from sysfs are short). */
static int __attribute__((format(printf, 3, 4))) bfmt(char *buf, size_t cap, const char *f, ...) {
	va_list ap;
	va_start(ap, f);
	int n = vsnprintf(buf, cap, f, ap);
	va_end(ap);
	return n;
}

/* One requirement line. Details are bounded so a hostile or huge tree cannot flood the console. */
__attribute__((format(printf, 4, 5))) static void report(const char *id, int level, int status, const char *fmt,
							 ...) {
	char detail[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	/* Lists are built as "item; item; ": drop the trailing separator. */
	for (size_t n = strlen(detail); n && (detail[n - 1] == ' ' || detail[n - 1] == ';'); n--)
		detail[n - 1] = 0;
	printf("%s %s %s%s\n", id, status_name[status], level == SHOULD ? "(should) " : "", detail);
	counts[status]++;
	if (status == NOTMET && level == MUST) {
		must_failed++;
		size_t n = strlen(failed_ids);
		if (n + strlen(id) + 2 < sizeof failed_ids)
			bfmt(failed_ids + n, sizeof failed_ids - n, "%s%s", n ? " " : "", id);
	}
	fflush(stdout);
}

/* Appends to a detail buffer, never past its end. */
static void __attribute__((format(printf, 3, 4))) add(char *buf, size_t cap, const char *fmt, ...) {
	size_t n = strlen(buf);
	if (n + 1 >= cap) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, cap - n, fmt, ap);
	va_end(ap);
}

/* ---- files ---- */

static ssize_t read_file(const char *path, void *buf, size_t cap) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return -1;
	size_t got = 0;
	while (got < cap) {
		ssize_t r = read(fd, (char *)buf + got, cap - got);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) break;
		got += (size_t)r;
	}
	close(fd);
	return (ssize_t)got;
}

/* The first line of a text file, without its newline; "" when absent. */
static int read_line(const char *path, char *out, size_t cap) {
	ssize_t n = read_file(path, out, cap - 1);
	if (n < 0) {
		out[0] = 0;
		return 0;
	}
	out[n] = 0;
	out[strcspn(out, "\n")] = 0;
	return 1;
}

static int exists(const char *path) {
	struct stat st;
	return stat(path, &st) == 0;
}

/* ---- device tree ---- */

static const char *dt = "/sys/firmware/devicetree/base";
static int have_dt;

#define MAXNODES 512
struct node {
	char path[200];   /* relative to the tree root, "" for the root */
	char compat[160]; /* NUL-separated list */
	int compat_len;
	uint32_t phandle;
};
static struct node nodes[MAXNODES];
static int nnodes;

static ssize_t dt_prop(const char *node, const char *prop, void *buf, size_t cap) {
	char p[PATH_MAX];
	if (bfmt(p, sizeof p, "%s/%s%s%s", dt, node, *node ? "/" : "", prop) >= (int)sizeof p) return -1;
	return read_file(p, buf, cap);
}

static int dt_has(const char *node, const char *prop) {
	char b[4];
	return dt_prop(node, prop, b, sizeof b) >= 0;
}

static int dt_str(const char *node, const char *prop, char *out, size_t cap) {
	ssize_t n = dt_prop(node, prop, out, cap - 1);
	if (n < 0) {
		out[0] = 0;
		return 0;
	}
	out[n] = 0;
	return 1;
}

/* Big-endian 32-bit cells of a property; returns how many (up to max), -1 when absent. */
static int dt_cells(const char *node, const char *prop, uint32_t *cells, int max) {
	unsigned char b[1024];
	ssize_t n = dt_prop(node, prop, b, sizeof b);
	if (n < 0) return -1;
	int c = 0;
	for (ssize_t i = 0; i + 4 <= n && c < max; i += 4)
		cells[c++] =
		    (uint32_t)b[i] << 24 | (uint32_t)b[i + 1] << 16 | (uint32_t)b[i + 2] << 8 | b[i + 3];
	return c;
}

static int dt_u32(const char *node, const char *prop, uint32_t *v) { return dt_cells(node, prop, v, 1) == 1; }

/* Whether a NUL-separated string list holds s. */
static int list_has(const char *list, int len, const char *s) {
	for (int i = 0; i < len; i += (int)strlen(list + i) + 1)
		if (!strcmp(list + i, s)) return 1;
	return 0;
}

static int node_compat(const struct node *n, const char *c) { return list_has(n->compat, n->compat_len, c); }

static void parent_of(const char *path, char *out, size_t cap) {
	bfmt(out, cap, "%s", path);
	char *s = strrchr(out, '/');
	if (s)
		*s = 0;
	else
		out[0] = 0;
}

/* Walk the tree once; nodes are directories, properties are files. */
static void dt_walk(const char *rel, int depth) {
	if (nnodes >= MAXNODES || depth > 6) return;
	struct node *n = &nodes[nnodes++];
	bfmt(n->path, sizeof n->path, "%s", rel);
	ssize_t c = dt_prop(rel, "compatible", n->compat, sizeof n->compat - 1);
	n->compat_len = c < 0 ? 0 : (int)c;
	n->compat[n->compat_len] = 0;
	if (!dt_u32(rel, "phandle", &n->phandle)) n->phandle = 0;
	char dir[PATH_MAX];
	bfmt(dir, sizeof dir, "%s/%s", dt, rel);
	DIR *d = opendir(dir);
	if (!d) return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.') continue;
		char sub[PATH_MAX];
		bfmt(sub, sizeof sub, "%s/%s", dir, e->d_name);
		struct stat st;
		if (stat(sub, &st) || !S_ISDIR(st.st_mode)) continue;
		char child[sizeof n->path];
		if (bfmt(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= (int)sizeof child)
			continue;
		dt_walk(child, depth + 1);
	}
	closedir(d);
}

static struct node *find_node(const char *path) {
	for (int i = 0; i < nnodes; i++)
		if (!strcmp(nodes[i].path, path)) return &nodes[i];
	return NULL;
}

static struct node *find_compat(const char *c) {
	for (int i = 0; i < nnodes; i++)
		if (node_compat(&nodes[i], c)) return &nodes[i];
	return NULL;
}

static struct node *find_phandle(uint32_t ph) {
	for (int i = 0; ph && i < nnodes; i++)
		if (nodes[i].phandle == ph) return &nodes[i];
	return NULL;
}

static uint32_t cells_of(const char *node, const char *prop, uint32_t dflt) {
	uint32_t v;
	return node && dt_u32(node, prop, &v) ? v : dflt;
}

struct range {
	uint64_t base, size;
};

/* reg of a node, decoded with its parent's #address-cells/#size-cells; returns the number of ranges. */
static int dt_reg(const char *node, struct range *r, int max) {
	char parent[200];
	parent_of(node, parent, sizeof parent);
	uint32_t ac = cells_of(parent, "#address-cells", 2), sc = cells_of(parent, "#size-cells", 1);
	uint32_t c[256];
	int n = dt_cells(node, "reg", c, 256);
	if (n <= 0 || ac > 2 || sc > 2 || ac + sc == 0) return 0;
	int k = 0;
	for (int i = 0; i + (int)(ac + sc) <= n && k < max; i += (int)(ac + sc), k++) {
		r[k].base = ac == 2 ? (uint64_t)c[i] << 32 | c[i + 1] : ac ? c[i] : 0;
		r[k].size = sc == 2 ? (uint64_t)c[i + ac] << 32 | c[i + ac + 1] : sc ? c[i + ac] : 0;
	}
	return k;
}

/* interrupt-parent of a node, inherited from its ancestors. */
static struct node *irq_parent(const char *node) {
	char p[200];
	bfmt(p, sizeof p, "%s", node);
	for (;;) {
		uint32_t ph;
		if (dt_u32(p, "interrupt-parent", &ph)) return find_phandle(ph);
		if (!*p) return NULL;
		parent_of(p, p, sizeof p);
	}
}

/* ---- kernel log ---- */

static char *klog;

static void read_klog(void) {
	int n = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	if (n <= 0 || n > (16 << 20)) n = 1 << 20;
	klog = calloc(1, (size_t)n + 1);
	if (!klog) return;
	int r = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, klog, n);
	if (r < 0) r = 0;
	klog[r] = 0;
}

static int klog_has(const char *s) { return klog && strstr(klog, s); }

/* ---- virtio devices ---- */

#define MAXDEV 64
struct vdev {
	char name[32];
	unsigned id, vendor;
	char features[130];
	char driver[64];
	char sysdir[PATH_MAX]; /* parent of virtioN: the transport's device */
	char ofnode[200];      /* its device-tree node, "" when none */
	int pci, mmio;
	struct range reg;
	int has_reg;
	uint32_t irq[3];
	int nirq;
};
static struct vdev devs[MAXDEV];
static int ndevs;

static int feat(const struct vdev *v, int bit) {
	return bit < (int)strlen(v->features) && v->features[bit] == '1';
}

static void scan_virtio(void) {
	DIR *d = opendir("/sys/bus/virtio/devices");
	if (!d) return;
	struct dirent *e;
	while ((e = readdir(d)) && ndevs < MAXDEV) {
		if (strncmp(e->d_name, "virtio", 6)) continue;
		struct vdev *v = &devs[ndevs];
		memset(v, 0, sizeof *v);
		bfmt(v->name, sizeof v->name, "%s", e->d_name);
		char p[PATH_MAX], s[PATH_MAX], line[160];
		bfmt(p, sizeof p, "/sys/bus/virtio/devices/%s/device", v->name);
		read_line(p, line, sizeof line);
		v->id = (unsigned)strtoul(line, NULL, 0);
		bfmt(p, sizeof p, "/sys/bus/virtio/devices/%s/vendor", v->name);
		read_line(p, line, sizeof line);
		v->vendor = (unsigned)strtoul(line, NULL, 0);
		bfmt(p, sizeof p, "/sys/bus/virtio/devices/%s/features", v->name);
		read_line(p, v->features, sizeof v->features);
		bfmt(p, sizeof p, "/sys/bus/virtio/devices/%s/driver", v->name);
		ssize_t n = readlink(p, s, sizeof s - 1);
		if (n > 0) {
			s[n] = 0;
			bfmt(v->driver, sizeof v->driver, "%s", strrchr(s, '/') ? strrchr(s, '/') + 1 : s);
		}
		bfmt(p, sizeof p, "/sys/bus/virtio/devices/%s", v->name);
		if (!realpath(p, s)) continue;
		parent_of(s, v->sysdir, sizeof v->sysdir);
		bfmt(p, sizeof p, "%s/class", v->sysdir);
		v->pci = exists(p);
		bfmt(p, sizeof p, "%s/of_node", v->sysdir);
		n = readlink(p, s, sizeof s - 1);
		if (n > 0) {
			s[n] = 0;
			const char *b = strstr(s, "devicetree/base");
			if (b) bfmt(v->ofnode, sizeof v->ofnode, "%s", b[15] == '/' ? b + 16 : "");
		}
		v->mmio = !v->pci && (strstr(v->sysdir, "virtio_mmio") || strstr(v->sysdir, "virtio-mmio"));
		if (v->ofnode[0]) {
			v->has_reg = dt_reg(v->ofnode, &v->reg, 1) == 1;
			int c = dt_cells(v->ofnode, "interrupts", v->irq, 3);
			v->nirq = c < 0 ? 0 : c;
		}
		ndevs++;
	}
	closedir(d);
	/* Directory order is arbitrary: sort by virtio index so the output is stable. */
	for (int i = 1; i < ndevs; i++)
		for (int j = i; j > 0 && atoi(devs[j].name + 6) < atoi(devs[j - 1].name + 6); j--) {
			struct vdev t = devs[j];
			devs[j] = devs[j - 1];
			devs[j - 1] = t;
		}
}

static int count_id(unsigned id) {
	int c = 0;
	for (int i = 0; i < ndevs; i++) c += devs[i].id == id;
	return c;
}

static struct vdev *first_id(unsigned id) {
	for (int i = 0; i < ndevs; i++)
		if (devs[i].id == id) return &devs[i];
	return NULL;
}

/*
 * Which virtio device a sysfs path belongs to: the one whose "/virtioN/" appears last in its real path
 * (input devices hang below virtioN), or whose transport directory is the longest prefix (DRM hangs below
 * the transport). The deepest match wins, so a device hotplugged below the power device is its own owner.
 */
static struct vdev *owner(const char *syspath) {
	char s[PATH_MAX];
	if (!realpath(syspath, s)) return NULL;
	struct vdev *best = NULL;
	size_t best_end = 0;
	for (int i = 0; i < ndevs; i++) {
		char needle[48];
		bfmt(needle, sizeof needle, "/%s/", devs[i].name);
		size_t end = 0, l = strlen(devs[i].sysdir);
		for (const char *f = strstr(s, needle); f; f = strstr(f + 1, needle))
			end = (size_t)(f - s) + strlen(needle);
		if (l && !strncmp(s, devs[i].sysdir, l) && s[l] == '/' && l + 1 > end) end = l + 1;
		if (end > best_end) {
			best_end = end;
			best = &devs[i];
		}
	}
	return best;
}

static void where(const struct vdev *v, char *out, size_t cap) {
	if (v->has_reg)
		bfmt(out, cap, "%s@0x%llx", v->name, (unsigned long long)v->reg.base);
	else
		bfmt(out, cap, "%s", v->name);
}

/* ---- input devices ---- */

#define NB(x) ((x) / (8 * sizeof(long)) + 1)
#define BIT(a, b) (((a)[(b) / (8 * sizeof(long))] >> ((b) % (8 * sizeof(long)))) & 1)
enum { KIND_OTHER, KIND_KBD, KIND_PTR, KIND_TOUCH };
struct idev {
	char node[32];
	char name[80];
	struct input_id iid;
	unsigned long ev[NB(EV_MAX)], key[NB(KEY_MAX)], rel[NB(REL_MAX)], abs[NB(ABS_MAX)];
	unsigned long led[NB(LED_MAX)], prop[NB(INPUT_PROP_MAX)];
	struct input_absinfo ai[ABS_CNT];
	int kind;
	const struct vdev *dev;
};
static struct idev inputs[16];
static int ninputs;

static int keys_1_31(const struct idev *in) {
	for (int k = 1; k <= 31; k++)
		if (!BIT(in->key, k)) return 0;
	return 1;
}

static void scan_inputs(void) {
	DIR *d = opendir("/dev/input");
	if (!d) return;
	struct dirent *e;
	while ((e = readdir(d)) && ninputs < 16) {
		if (strncmp(e->d_name, "event", 5)) continue;
		char p[PATH_MAX];
		bfmt(p, sizeof p, "/sys/class/input/%s/device", e->d_name);
		const struct vdev *v = owner(p);
		/* Not a virtio-input device (virtio-power's "Power Button" also hangs below a virtio device). */
		if (!v || v->id != 18) continue;
		struct idev *in = &inputs[ninputs];
		memset(in, 0, sizeof *in);
		in->dev = v;
		bfmt(in->node, sizeof in->node, "%s", e->d_name);
		bfmt(p, sizeof p, "/dev/input/%s", e->d_name);
		int fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) continue;
		ioctl(fd, EVIOCGNAME(sizeof in->name - 1), in->name);
		ioctl(fd, EVIOCGID, &in->iid);
		ioctl(fd, EVIOCGBIT(0, sizeof in->ev), in->ev);
		ioctl(fd, EVIOCGBIT(EV_KEY, sizeof in->key), in->key);
		ioctl(fd, EVIOCGBIT(EV_REL, sizeof in->rel), in->rel);
		ioctl(fd, EVIOCGBIT(EV_ABS, sizeof in->abs), in->abs);
		ioctl(fd, EVIOCGBIT(EV_LED, sizeof in->led), in->led);
		ioctl(fd, EVIOCGPROP(sizeof in->prop), in->prop);
		for (int a = 0; a < ABS_CNT; a++)
			if (BIT(in->abs, a)) ioctl(fd, EVIOCGABS(a), &in->ai[a]);
		close(fd);
		if (BIT(in->prop, INPUT_PROP_DIRECT) || BIT(in->abs, ABS_MT_SLOT))
			in->kind = KIND_TOUCH;
		else if (BIT(in->abs, ABS_X) && BIT(in->abs, ABS_Y) && BIT(in->key, BTN_LEFT))
			in->kind = KIND_PTR;
		else if (BIT(in->ev, EV_KEY) && keys_1_31(in) && !BIT(in->ev, EV_ABS))
			in->kind = KIND_KBD;
		ninputs++;
	}
	closedir(d);
}

/* ---- DRM connectors of virtio-gpu devices ---- */

struct conn {
	char name[64];
	char status[32];
	char mode[32]; /* first (preferred) mode */
	unsigned char edid[512];
	int edid_len;
	const struct vdev *dev;
};
static struct conn conns[8];
static int nconns;

static void scan_drm(void) {
	DIR *d = opendir("/sys/class/drm");
	if (!d) return;
	struct dirent *e;
	while ((e = readdir(d)) && nconns < 8) {
		if (strncmp(e->d_name, "card", 4) || !strchr(e->d_name, '-')) continue;
		char p[PATH_MAX];
		bfmt(p, sizeof p, "/sys/class/drm/%s", e->d_name);
		const struct vdev *v = owner(p);
		if (!v) continue;
		struct conn *c = &conns[nconns++];
		memset(c, 0, sizeof *c);
		c->dev = v;
		bfmt(c->name, sizeof c->name, "%s", e->d_name);
		bfmt(p, sizeof p, "/sys/class/drm/%s/status", e->d_name);
		read_line(p, c->status, sizeof c->status);
		bfmt(p, sizeof p, "/sys/class/drm/%s/modes", e->d_name);
		read_line(p, c->mode, sizeof c->mode);
		bfmt(p, sizeof p, "/sys/class/drm/%s/edid", e->d_name);
		ssize_t n = read_file(p, c->edid, sizeof c->edid);
		c->edid_len = n < 0 ? 0 : (int)n;
	}
	closedir(d);
}

/* ---- the virtio_power inventory ---- */

struct inv_entry {
	unsigned id, irq;
	char transport[8], flags[16], name[40];
	unsigned long long base, size;
};
static struct inv_entry inv[MAXDEV];
static int ninv = -1; /* -1: no inventory in sysfs */
static char inv_dir[PATH_MAX];

static void read_inventory(const struct vdev *pw) {
	if (!pw) return;
	bfmt(inv_dir, sizeof inv_dir, "/sys/bus/virtio/devices/%s/inventory", pw->name);
	char p[PATH_MAX];
	bfmt(p, sizeof p, "%s/devices", inv_dir);
	static char buf[64 * 1024];
	ssize_t n = read_file(p, buf, sizeof buf - 1);
	if (n < 0) return;
	buf[n] = 0;
	ninv = 0;
	for (char *line = strtok(buf, "\n"); line && ninv < MAXDEV; line = strtok(NULL, "\n")) {
		struct inv_entry *x = &inv[ninv];
		unsigned idx;
		if (sscanf(line, "%u %u %7s %llx %llx %u %15s %39s", &idx, &x->id, x->transport, &x->base,
			   &x->size, &x->irq, x->flags, x->name) >= 7)
			ninv++;
	}
}

/* ---- the architecture and its recommended map (spec §6) ---- */

enum { RISCV64, ARM64, X86_64, OTHER };
static int arch;
static const char *arch_name;

struct archmap {
	uint64_t ram, window, stride;
	unsigned slots, first;
};
static const struct archmap maps[OTHER + 1] = {
    [RISCV64] = {0x80000000ull, 0x10001000ull, 0x1000, 32, 32},
    [ARM64] = {0x40000000ull, 0x0a000000ull, 0x200, 32, 16},
};

/* The source a device-tree interrupt specifier names: PLIC/APLIC first cell, GIC SPI second cell. */
static int irq_source(const struct vdev *v, uint32_t *src) {
	if (arch == ARM64) {
		if (v->nirq < 3 || v->irq[0] != 0) return 0;
		*src = v->irq[1];
	} else {
		if (v->nirq < 1) return 0;
		*src = v->irq[0];
	}
	return 1;
}

/* ---- small helpers over the collected data ---- */

static int ncpus_dt(void) {
	int c = 0;
	for (int i = 0; i < nnodes; i++)
		if (!strncmp(nodes[i].path, "cpus/cpu@", 9) && !strchr(nodes[i].path + 5, '/')) c++;
	return c;
}

static int online_cpus(void) {
	char line[128];
	if (!read_line("/sys/devices/system/cpu/online", line, sizeof line)) return 0;
	int total = 0;
	for (char *t = strtok(line, ","); t; t = strtok(NULL, ",")) {
		int a, b;
		if (sscanf(t, "%d-%d", &a, &b) == 2)
			total += b - a + 1;
		else
			total++;
	}
	return total;
}

static int memory_range(struct range *r) {
	for (int i = 0; i < nnodes; i++)
		if (!strncmp(nodes[i].path, "memory", 6) && !strchr(nodes[i].path, '/'))
			if (dt_reg(nodes[i].path, r, 1) == 1) return 1;
	return 0;
}

static int in_window(uint64_t base) {
	const struct archmap *m = &maps[arch];
	return base >= m->window && base < m->window + m->slots * m->stride &&
	       (base - m->window) % m->stride == 0;
}

/* Whether interrupts-extended of a node names (intc phandle, cause); intc specifiers are one cell. */
static int has_irq_ext(const char *node, uint32_t ph, uint32_t cause) {
	uint32_t c[512];
	int n = dt_cells(node, "interrupts-extended", c, 512);
	for (int i = 0; i + 1 < n; i += 2)
		if (c[i] == ph && c[i + 1] == cause) return 1;
	return 0;
}

/* The phandles of every hart's local interrupt controller, indexed by hart ID (0 when unknown). */
static uint32_t intc_ph[64];

static void collect_intc(void) {
	for (int i = 0; i < nnodes; i++) {
		const char *p = nodes[i].path;
		uint32_t hart;
		if (strncmp(p, "cpus/cpu@", 9) || strchr(p + 5, '/') || !dt_u32(p, "reg", &hart) || hart >= 64)
			continue;
		char sub[220];
		bfmt(sub, sizeof sub, "%s/interrupt-controller", p);
		struct node *n = find_node(sub);
		if (n && node_compat(n, "riscv,cpu-intc")) intc_ph[hart] = n->phandle;
	}
}

/* Every hart's (intc, cause) pair is in the node's interrupts-extended; names the first hart missing. */
static int every_hart(const char *node, uint32_t cause, char *why, size_t cap) {
	int n = ncpus_dt();
	for (int h = 0; h < n && h < 64; h++)
		if (!intc_ph[h] || !has_irq_ext(node, intc_ph[h], cause)) {
			bfmt(why, cap, "%s: no cause %u for hart %d", node, cause, h);
			return 0;
		}
	return 1;
}

static void na_all(const char *const *ids, int n, const char *why) {
	for (int i = 0; i < n; i++) report(ids[i], MUST, NA, "%s", why);
}

/* ---- §3.1 riscv64 ---- */

static const char *const ext_need[] = {"i", "m", "a", "f", "d", "c", "zicsr", "zifencei", "zicntr"};

static void check_riscv(void) {
	char bad[400] = "", isa0[200] = "", mmu0[32] = "", note[80] = "";
	int n = ncpus_dt();
	unsigned long long seen = 0;
	for (int i = 0; i < nnodes; i++) {
		const char *p = nodes[i].path;
		if (strncmp(p, "cpus/cpu@", 9) || strchr(p + 5, '/')) continue;
		char isa[200], mmu[32], type[16], sub[220];
		uint32_t reg;
		dt_str(p, "riscv,isa", isa, sizeof isa);
		dt_str(p, "mmu-type", mmu, sizeof mmu);
		dt_str(p, "device_type", type, sizeof type);
		if (!isa0[0]) {
			bfmt(isa0, sizeof isa0, "%s", isa);
			bfmt(mmu0, sizeof mmu0, "%s", mmu);
		}
		if (!dt_u32(p, "reg", &reg) || reg >= 64)
			add(bad, sizeof bad, "%s: no hart ID; ", p);
		else
			seen |= 1ull << reg;
		if (strcmp(type, "cpu") || !node_compat(&nodes[i], "riscv"))
			add(bad, sizeof bad, "%s: not a riscv cpu; ", p);
		size_t base = strcspn(isa, "_");
		if (strncmp(isa, "rv64", 4)) add(bad, sizeof bad, "%s: riscv,isa \"%s\" is not rv64; ", p, isa);
		for (int k = 0; k < 6; k++) {
			char *l = memchr(isa + 4, ext_need[k][0], base > 4 ? base - 4 : 0);
			char *g = memchr(isa + 4, 'g', base > 4 ? base - 4 : 0);
			if (!l && !(g && k < 5)) add(bad, sizeof bad, "%s: no %s; ", p, ext_need[k]);
		}
		char exts[512];
		ssize_t el = dt_prop(p, "riscv,isa-extensions", exts, sizeof exts - 1);
		for (int k = 6; k < 9; k++) {
			if (el > 0) {
				if (!list_has(exts, (int)el, ext_need[k]))
					add(bad, sizeof bad, "%s: no %s; ", p, ext_need[k]);
			} else if (!strstr(isa, ext_need[k]))
				bfmt(note, sizeof note, "; %s not listed, implied by riscv,isa", ext_need[k]);
		}
		if (strcmp(mmu, "riscv,sv39") && strcmp(mmu, "riscv,sv48") && strcmp(mmu, "riscv,sv57"))
			add(bad, sizeof bad, "%s: mmu-type \"%s\"; ", p, mmu);
		bfmt(sub, sizeof sub, "%s/interrupt-controller", p);
		struct node *ic = find_node(sub);
		if (!ic || !node_compat(ic, "riscv,cpu-intc"))
			add(bad, sizeof bad, "%s: no riscv,cpu-intc; ", p);
	}
	if (!n)
		add(bad, sizeof bad, "no /cpus/cpu@N nodes");
	else if (n < 64 && seen != (1ull << n) - 1)
		add(bad, sizeof bad, "hart IDs are not 0..%d", n - 1);
	if (bad[0])
		report("VD-301", MUST, NOTMET, "%s", bad);
	else
		report("VD-301", MUST, MET, "%d harts: %s, %s%s", n, isa0, mmu0, note);

	/* VD-302: the new-style ISA properties, and riscv,isa naming the same extensions. */
	bad[0] = 0;
	for (int i = 0; i < nnodes; i++) {
		const char *p = nodes[i].path;
		if (strncmp(p, "cpus/cpu@", 9) || strchr(p + 5, '/')) continue;
		char b[32], isa[200], exts[512];
		if (!dt_str(p, "riscv,isa-base", b, sizeof b) || strcmp(b, "rv64i"))
			add(bad, sizeof bad, "%s: riscv,isa-base missing or not rv64i; ", p);
		ssize_t el = dt_prop(p, "riscv,isa-extensions", exts, sizeof exts - 1);
		if (el <= 0) {
			add(bad, sizeof bad, "%s: no riscv,isa-extensions; ", p);
			continue;
		}
		dt_str(p, "riscv,isa", isa, sizeof isa);
		for (int k = 0; k < 9; k++) {
			if (!list_has(exts, (int)el, ext_need[k]))
				add(bad, sizeof bad, "%s: %s not in riscv,isa-extensions; ", p, ext_need[k]);
			char want[24];
			bfmt(want, sizeof want, "_%s", ext_need[k]);
			if (k >= 6 && !strstr(isa, want))
				add(bad, sizeof bad, "%s: riscv,isa lacks %s; ", p, ext_need[k]);
		}
	}
	if (bad[0])
		report("VD-302", MUST, NOTMET, "%s", bad);
	else
		report("VD-302", MUST, MET,
		       "riscv,isa-base rv64i, riscv,isa-extensions and riscv,isa list i m a f d c zicsr "
		       "zifencei zicntr");

	/* VD-303: PLIC or AIA with >= 63 sources and an S-mode external interrupt per hart. */
	collect_intc();
	struct node *plic = find_compat("sifive,plic-1.0.0");
	if (!plic) plic = find_compat("riscv,plic0");
	struct node *aplic = NULL;
	for (int i = 0; i < nnodes && !aplic; i++)
		if (node_compat(&nodes[i], "riscv,aplic") && !dt_has(nodes[i].path, "riscv,children"))
			aplic = &nodes[i];
	char why[200] = "";
	if (plic) {
		uint32_t ndev = 0;
		dt_u32(plic->path, "riscv,ndev", &ndev);
		if (ndev < 63)
			report("VD-303", MUST, NOTMET, "%s: riscv,ndev %u < 63", plic->path, ndev);
		else if (!every_hart(plic->path, 9, why, sizeof why))
			report("VD-303", MUST, NOTMET, "%s", why);
		else
			report("VD-303", MUST, MET, "PLIC %s, %u sources, S-mode context for every hart",
			       plic->path, ndev);
	} else if (aplic) {
		uint32_t ns = 0, msi;
		dt_u32(aplic->path, "riscv,num-sources", &ns);
		int ok = 1;
		if (dt_u32(aplic->path, "msi-parent", &msi)) {
			struct node *im = find_phandle(msi);
			ok = im && node_compat(im, "riscv,imsics") && every_hart(im->path, 9, why, sizeof why);
		} else
			ok = every_hart(aplic->path, 9, why, sizeof why);
		if (ns < 63 || !ok)
			report("VD-303", MUST, NOTMET, "APLIC %s: %u sources %s", aplic->path, ns, why);
		else
			report("VD-303", MUST, MET, "APLIC %s, %u sources", aplic->path, ns);
	} else
		report("VD-303", MUST, NOTMET, "no PLIC (sifive,plic-1.0.0) and no APLIC (riscv,aplic) node");

	/* VD-304: CLINT or ACLINT with M-soft and M-timer per hart, and the timebase. */
	struct node *clint = find_compat("sifive,clint0");
	if (!clint) clint = find_compat("riscv,clint0");
	struct node *mswi = find_compat("riscv,aclint-mswi"), *mtimer = find_compat("riscv,aclint-mtimer");
	uint32_t tb = 0;
	dt_u32("cpus", "timebase-frequency", &tb);
	why[0] = 0;
	int ok = 0;
	const char *what = "";
	if (clint) {
		ok = every_hart(clint->path, 3, why, sizeof why) && every_hart(clint->path, 7, why, sizeof why);
		what = clint->path;
	} else if (mswi && mtimer) {
		ok = every_hart(mswi->path, 3, why, sizeof why) && every_hart(mtimer->path, 7, why, sizeof why);
		what = "ACLINT mswi + mtimer";
	} else
		bfmt(why, sizeof why, "no CLINT (sifive,clint0) and no ACLINT mswi + mtimer");
	if (ok && !tb) {
		ok = 0;
		bfmt(why, sizeof why, "/cpus has no timebase-frequency");
	}
	if (ok)
		report("VD-304", MUST, MET, "%s, timebase %u Hz", what, tb);
	else
		report("VD-304", MUST, NOTMET, "%s", why);
	report("VD-305", SHOULD, tb == 10000000 ? MET : NOTMET, "timebase-frequency %u Hz", tb);

	/* VD-306/307: SBI version and extensions, as the kernel logged them while probing. */
	int maj = -1, min = -1;
	const char *s = klog ? strstr(klog, "SBI specification v") : NULL;
	if (s) sscanf(s, "SBI specification v%d.%d", &maj, &min);
	static const char *const sbi_ext[] = {"TIME", "IPI", "RFENCE", "HSM"};
	char missing[80] = "";
	for (int k = 0; k < 4; k++) {
		char line[64];
		bfmt(line, sizeof line, "SBI %s extension detected", sbi_ext[k]);
		if (!klog_has(line)) add(missing, sizeof missing, " %s", sbi_ext[k]);
	}
	if (maj < 0)
		report("VD-306", MUST, NOTMET, "the kernel log names no SBI specification version");
	else if (maj < 1 || missing[0])
		report("VD-306", MUST, NOTMET, "SBI v%d.%d, missing:%s", maj, min,
		       missing[0] ? missing : " none");
	else
		report("VD-306", MUST, MET, "SBI v%d.%d with BASE TIME IPI RFENCE HSM", maj, min);
	int dbcn = klog_has("SBI DBCN extension detected");
	report("VD-307", SHOULD, maj >= 2 && dbcn ? MET : NOTMET, "SBI v%d.%d, DBCN %s", maj, min,
	       dbcn ? "present" : "absent");

	/* VD-308: what is reserved lies inside RAM; no-map is only recommended, so it is reported, not required. */
	struct range ram;
	int have_ram = memory_range(&ram);
	char list[300] = "";
	bad[0] = 0;
	for (int i = 0; i < nnodes; i++) {
		const char *p = nodes[i].path;
		if (strncmp(p, "reserved-memory/", 16) || strchr(p + 16, '/')) continue;
		struct range r;
		if (dt_reg(p, &r, 1) != 1) continue;
		add(list, sizeof list, " %s%s", p + 16, dt_has(p, "no-map") ? " (no-map)" : "");
		if (!have_ram || r.base < ram.base || r.base + r.size > ram.base + ram.size)
			add(bad, sizeof bad, "%s lies outside /memory; ", p);
	}
	if (bad[0])
		report("VD-308", MUST, NOTMET, "%s", bad);
	else if (list[0])
		report("VD-308", MUST, MET, "reserved inside RAM:%s", list);
	else
		report("VD-308", MUST, MET,
		       "nothing reserved (RAM the host uses without saying so cannot be seen)");
}

/* ---- §3.2 arm64 ---- */

static void check_arm(void) {
	char bad[300] = "";
	int n = ncpus_dt();
	for (int i = 0; i < nnodes; i++) {
		const char *p = nodes[i].path;
		if (strncmp(p, "cpus/cpu@", 9) || strchr(p + 5, '/')) continue;
		char type[16], em[16];
		dt_str(p, "device_type", type, sizeof type);
		dt_str(p, "enable-method", em, sizeof em);
		if (strcmp(type, "cpu") || !dt_has(p, "reg")) add(bad, sizeof bad, "%s: not a cpu node; ", p);
		if (n > 1 && strcmp(em, "psci")) add(bad, sizeof bad, "%s: enable-method \"%s\"; ", p, em);
	}
	if (!n) add(bad, sizeof bad, "no cpu nodes");
	report("VD-321", MUST, bad[0] ? NOTMET : MET, "%s",
	       bad[0] ? bad : "AArch64 CPUs with enable-method psci");
	struct node *gic = find_compat("arm,gic-v3");
	struct range r[4];
	if (!gic)
		report("VD-322", MUST, NOTMET, "no arm,gic-v3 node");
	else if (cells_of(gic->path, "#interrupt-cells", 0) != 3 || dt_reg(gic->path, r, 4) < 2)
		report("VD-322", MUST, NOTMET,
		       "%s: needs #interrupt-cells 3 and distributor + redistributor regs", gic->path);
	else
		report("VD-322", MUST, MET, "GICv3 %s%s", gic->path,
		       find_compat("arm,gic-v3-its") ? " with ITS" : "");
	struct node *t = find_compat("arm,armv8-timer");
	uint32_t c[12];
	static const uint32_t ppi[4] = {13, 14, 11, 10};
	int ok = t && dt_cells(t->path, "interrupts", c, 12) == 12;
	for (int k = 0; ok && k < 4; k++)
		ok = c[3 * k] == 1 && c[3 * k + 1] == ppi[k] && (c[3 * k + 2] & 0xf) == 4;
	report("VD-323", MUST, ok ? MET : NOTMET,
	       ok ? "arm,armv8-timer on PPIs 13 14 11 10, level"
		  : "no arm,armv8-timer with PPIs 13 14 11 10 level-triggered");
	struct node *psci = find_compat("arm,psci-1.0");
	char method[16] = "";
	if (psci) dt_str(psci->path, "method", method, sizeof method);
	ok = psci && (!strcmp(method, "hvc") || !strcmp(method, "smc"));
	report("VD-324", MUST, ok ? MET : NOTMET,
	       ok ? "PSCI 1.0 via %s" : "no arm,psci-1.0 node with method hvc or smc%s", method);
}

/* ---- §3.3 x86_64 ---- */

static void check_x86(void) {
	static char cpuinfo[65536];
	ssize_t n = read_file("/proc/cpuinfo", cpuinfo, sizeof cpuinfo - 1);
	cpuinfo[n > 0 ? n : 0] = 0;
	int lm = strstr(cpuinfo, " lm") != NULL, apic = strstr(cpuinfo, " apic") != NULL;
	int table = klog_has("MP-table") || klog_has("ACPI: APIC") || klog_has("ACPI: MADT");
	report("VD-341", MUST, lm && apic && table ? MET : NOTMET,
	       "long mode %s, local APIC %s, MP table or MADT %s", lm ? "yes" : "no", apic ? "yes" : "no",
	       table ? "found" : "not found");
	int io = klog_has("address 0xfec00000, GSI 0-23");
	report("VD-342", MUST, io ? MET : NOTMET,
	       io ? "I/O APIC at 0xfec00000 with GSI 0-23"
		  : "no I/O APIC at 0xfec00000 with 24 pins in the kernel log");
	char cs[256];
	read_line("/sys/devices/system/clocksource/clocksource0/available_clocksource", cs, sizeof cs);
	int ok = strstr(cs, "tsc") || strstr(cs, "kvm-clock");
	report("VD-343", MUST, ok ? MET : NOTMET, "clock sources: %s", cs);
}

/* ---- §4 devices ---- */

static int bound(const struct vdev *v) { return v->driver[0] != 0; }

/* Lists devices failing a per-device predicate; reports met when there were some and none failed. */
static void each_bound(const char *id, int level, int (*ok)(const struct vdev *), const char *what) {
	char bad[300] = "";
	int seen = 0, unbound = 0;
	for (int i = 0; i < ndevs; i++) {
		if (!bound(&devs[i])) {
			unbound++;
			continue;
		}
		seen++;
		if (!ok(&devs[i])) add(bad, sizeof bad, " %s(id %u)", devs[i].name, devs[i].id);
	}
	if (bad[0])
		report(id, level, NOTMET, "%s not true for:%s", what, bad);
	else if (!seen)
		report(id, level, NA, "no virtio device has a driver bound: features not observable");
	else
		report(id, level, MET, "%s: all %d bound devices%s", what, seen,
		       unbound ? " (unbound ones not observable)" : "");
}

static int has_v1(const struct vdev *v) { return feat(v, 32); }
static int no_access_platform(const struct vdev *v) { return !feat(v, 33); }
static int ring_feats(const struct vdev *v) { return feat(v, 28) && feat(v, 29); }

static void check_power(const struct vdev *pw) {
	int n = count_id(VIRTIO_ID_POWER);
	char w[64] = "";
	if (pw) where(pw, w, sizeof w);
	if (n == 1)
		report("VD-410", MUST, MET, "one virtio-power device: %s", w);
	else if (n)
		report("VD-410", MUST, NOTMET, "%d virtio-power devices", n);
	else
		report("VD-410", MUST, NOTMET, "no virtio-power device (ID " STR(VIRTIO_ID_POWER) ")");
	if (!pw) {
		static const char *const ids[] = {"VD-411", "VD-412", "VD-413"};
		for (int i = 0; i < 3; i++)
			report(ids[i], i == 1 ? SHOULD : MUST, NA, "no virtio-power device");
		return;
	}
	if (!bound(pw)) {
		report("VD-411", MUST, NA, "%s has no driver bound: features not observable", pw->name);
		report("VD-412", SHOULD, NA, "%s has no driver bound: features not observable", pw->name);
	} else {
		int ok = feat(pw, 0) && feat(pw, 1);
		report("VD-411", MUST, ok ? MET : NOTMET, "INVENTORY %s, HOST_REQUESTS %s",
		       feat(pw, 0) ? "yes" : "no", feat(pw, 1) ? "yes" : "no");
		report("VD-412", SHOULD, feat(pw, 2) ? MET : NOTMET, "HOTPLUG %s", feat(pw, 2) ? "yes" : "no");
	}
	if (ninv < 0) {
		report("VD-413", MUST, NA,
		       "no inventory in sysfs (%s): driver not bound or INVENTORY not negotiated", inv_dir);
		return;
	}
	/* VD-413: the inventory against the device tree and the devices Linux found. */
	char bad[500] = "", p[PATH_MAX + 16], val[128];
	bfmt(p, sizeof p, "%s/harts", inv_dir);
	read_line(p, val, sizeof val);
	int harts = atoi(val), cpus = have_dt ? ncpus_dt() : online_cpus();
	if (harts != cpus) add(bad, sizeof bad, "harts %d, device tree %d; ", harts, cpus);
	struct range ram;
	unsigned long long rb = 0, rs = 0;
	bfmt(p, sizeof p, "%s/memory", inv_dir);
	read_line(p, val, sizeof val);
	sscanf(val, "%llx %llx", &rb, &rs);
	if (have_dt && (!memory_range(&ram) || ram.base != rb || ram.size != rs))
		add(bad, sizeof bad, "memory %s differs from /memory; ", val);
	bfmt(p, sizeof p, "%s/interrupt_controller", inv_dir);
	read_line(p, val, sizeof val);
	const char *want = arch == X86_64                                                   ? "x86-ioapic"
			   : arch == ARM64                                                  ? "arm-gic"
			   : find_compat("sifive,plic-1.0.0") || find_compat("riscv,plic0") ? "riscv-plic"
											    : "riscv-aplic";
	if (strcmp(val, want)) add(bad, sizeof bad, "interrupt controller %s, expected %s; ", val, want);
	bfmt(p, sizeof p, "%s/spec_version", inv_dir);
	read_line(p, val, sizeof val);
	if (strcmp(val, "0.1")) add(bad, sizeof bad, "spec version %s, expected 0.1; ", val);
	int selfs = 0, described = 0, listed = 0;
	for (int k = 0; k < ninv; k++) {
		if (!strcmp(inv[k].flags, "self")) {
			selfs++;
			if (inv[k].id != VIRTIO_ID_POWER || !pw->has_reg || inv[k].base != pw->reg.base)
				add(bad, sizeof bad, "SELF entry is not the power device; ");
		}
		listed += strcmp(inv[k].flags, "hotplugged") != 0;
	}
	if (selfs != 1) add(bad, sizeof bad, "%d SELF entries; ", selfs);
	for (int i = 0; i < ndevs; i++) {
		const struct vdev *v = &devs[i];
		if (!v->has_reg) continue;
		described++;
		uint32_t src = 0;
		irq_source(v, &src);
		int found = 0;
		for (int k = 0; k < ninv; k++)
			if (inv[k].base == v->reg.base) {
				found = 1;
				if (inv[k].id != v->id || inv[k].size != v->reg.size || inv[k].irq != src)
					add(bad, sizeof bad,
					    "entry at 0x%llx says id %u size 0x%llx irq %u, the device tree id "
					    "%u size 0x%llx irq %u; ",
					    inv[k].base, inv[k].id, inv[k].size, inv[k].irq, v->id,
					    (unsigned long long)v->reg.size, src);
			}
		if (!found)
			add(bad, sizeof bad, "%s at 0x%llx not in the inventory; ", v->name,
			    (unsigned long long)v->reg.base);
	}
	if (listed != described)
		add(bad, sizeof bad, "%d boot-time entries for %d described devices; ", listed, described);
	if (bad[0])
		report("VD-413", MUST, NOTMET, "%s", bad);
	else
		report("VD-413", MUST, MET,
		       "%d harts, RAM 0x%llx+0x%llx, %s, spec 0.1, %d entries match the devices", harts, rb, rs,
		       want, ninv);
}

/* EDID 1.3/1.4 sanity and the size of its first detailed timing. */
static int edid_ok(const struct conn *c, int *w, int *h, char *why, size_t cap) {
	static const unsigned char hdr[8] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
	const unsigned char *e = c->edid;
	if (c->edid_len < 128 || c->edid_len % 128) {
		bfmt(why, cap, "%s: EDID of %d bytes", c->name, c->edid_len);
		return 0;
	}
	unsigned sum = 0;
	for (int i = 0; i < 128; i++) sum += e[i];
	if (memcmp(e, hdr, 8) || sum % 256 || e[18] != 1 || (e[19] != 3 && e[19] != 4)) {
		bfmt(why, cap, "%s: EDID header, checksum or version (%u.%u) wrong", c->name, e[18], e[19]);
		return 0;
	}
	if (!(e[54] | e[55] << 8)) {
		bfmt(why, cap, "%s: EDID has no detailed timing first", c->name);
		return 0;
	}
	*w = e[56] | (e[58] & 0xf0) << 4;
	*h = e[59] | (e[61] & 0xf0) << 4;
	return 1;
}

static void check_display(void) {
	int n = count_id(16);
	char det[300] = "";
	int ok = 0;
	for (int i = 0; i < nconns; i++)
		if (!strcmp(conns[i].status, "connected") && conns[i].mode[0]) {
			ok = 1;
			add(det, sizeof det, " %s %s %s", conns[i].dev->name, conns[i].name, conns[i].mode);
		}
	if (!n)
		report("VD-420", MUST, NOTMET, "no display device (ID 16)");
	else if (ok)
		report("VD-420", MUST, MET, "connected:%s", det);
	else
		report("VD-420", MUST, NOTMET, "%d display device(s) but no connected connector with a mode",
		       n);
	if (!n) {
		report("VD-421", MUST, NA, "no display device");
		report("VD-422", MUST, NA, "no display device");
	} else {
		char bad[300] = "", good[200] = "";
		for (int i = 0; i < ndevs; i++) {
			const struct vdev *v = &devs[i];
			if (v->id != 16) continue;
			if (!bound(v)) {
				add(bad, sizeof bad, "%s: no driver bound; ", v->name);
				continue;
			}
			if (!feat(v, 1)) add(bad, sizeof bad, "%s: EDID feature not offered; ", v->name);
			for (int k = 0; k < nconns; k++) {
				if (conns[k].dev != v) continue;
				int w, h, mw = 0, mh = 0;
				char why[120];
				sscanf(conns[k].mode, "%dx%d", &mw, &mh);
				if (!edid_ok(&conns[k], &w, &h, why, sizeof why))
					add(bad, sizeof bad, "%s; ", why);
				else if (w != mw || h != mh)
					add(bad, sizeof bad, "%s: EDID timing %dx%d, preferred mode %s; ",
					    conns[k].name, w, h, conns[k].mode);
				else
					add(good, sizeof good, " %s EDID %dx%d", conns[k].name, w, h);
			}
		}
		report("VD-421", MUST, bad[0] || !good[0] ? NOTMET : MET, "%s",
		       bad[0]    ? bad
		       : good[0] ? good + 1
				 : "no connector with an EDID");
		bad[0] = 0;
		int drivers = 0;
		for (int i = 0; i < ndevs; i++)
			if (devs[i].id == 16) {
				if (!strcmp(devs[i].driver, "virtio_gpu"))
					drivers++;
				else
					add(bad, sizeof bad, " %s", devs[i].name);
			}
		if (bad[0])
			report("VD-422", MUST, NA, "not observable without the virtio_gpu driver on:%s", bad);
		else
			report("VD-422", MUST, MET,
			       "virtio_gpu bound to %d device(s); it needs controlq, cursorq and the 2D "
			       "commands to probe and scan out",
			       drivers);
	}
	report("VD-423", MUST, NA, "needs a host-side resize; checked by tests/display.test.ts");
}

static void check_input(void) {
	char bad[400] = "", good[300] = "";
	/* VD-430 keyboard */
	for (int i = 0; i < ninputs; i++) {
		const struct idev *in = &inputs[i];
		if (in->kind != KIND_KBD) continue;
		int ok = BIT(in->ev, EV_REP) && BIT(in->ev, EV_LED) && BIT(in->led, LED_NUML) &&
			 BIT(in->led, LED_CAPSL) && BIT(in->led, LED_SCROLLL);
		int keys = 0;
		for (int k = 0; k < KEY_CNT; k++) keys += (int)BIT(in->key, k);
		if (ok)
			add(good, sizeof good, " %s \"%s\" (%d keys)", in->node, in->name, keys);
		else
			add(bad, sizeof bad, " %s \"%s\" lacks EV_REP or the NUML/CAPSL/SCROLLL LEDs", in->node,
			    in->name);
	}
	if (good[0])
		report("VD-430", MUST, MET, "keyboard:%s", good);
	else
		report("VD-430", MUST, NOTMET, "%s",
		       bad[0] ? bad + 1 : "no virtio input device with the keyboard profile");
	/* VD-431/432 absolute pointer */
	bad[0] = good[0] = 0;
	char should[300] = "", shouldbad[300] = "";
	for (int i = 0; i < ninputs; i++) {
		const struct idev *in = &inputs[i];
		if (in->kind != KIND_PTR) continue;
		const struct input_absinfo *x = &in->ai[ABS_X], *y = &in->ai[ABS_Y];
		int ok = x->minimum == 0 && x->maximum > 0 && y->minimum == 0 && y->maximum > 0 &&
			 BIT(in->key, BTN_RIGHT) && BIT(in->key, BTN_MIDDLE) && BIT(in->ev, EV_REL) &&
			 BIT(in->rel, REL_WHEEL);
		if (!ok) {
			add(bad, sizeof bad,
			    " %s \"%s\": ABS_X %d..%d ABS_Y %d..%d, BTN_RIGHT %d BTN_MIDDLE %d REL_WHEEL %d;",
			    in->node, in->name, x->minimum, x->maximum, y->minimum, y->maximum,
			    (int)BIT(in->key, BTN_RIGHT), (int)BIT(in->key, BTN_MIDDLE),
			    (int)BIT(in->rel, REL_WHEEL));
			continue;
		}
		add(good, sizeof good, " %s \"%s\" (0..%d x 0..%d)", in->node, in->name, x->maximum,
		    y->maximum);
		int s = x->maximum == 32767 && y->maximum == 32767 && BIT(in->rel, REL_HWHEEL) &&
			BIT(in->key, BTN_SIDE) && BIT(in->key, BTN_EXTRA);
		if (s)
			add(should, sizeof should, " %s", in->node);
		else
			add(shouldbad, sizeof shouldbad,
			    " %s: range 0..%d, REL_HWHEEL %d BTN_SIDE %d BTN_EXTRA %d;", in->node, x->maximum,
			    (int)BIT(in->rel, REL_HWHEEL), (int)BIT(in->key, BTN_SIDE),
			    (int)BIT(in->key, BTN_EXTRA));
	}
	if (good[0])
		report("VD-431", MUST, MET, "absolute pointer:%s", good);
	else
		report("VD-431", MUST, NOTMET, "%s",
		       bad[0] ? bad + 1 : "no virtio input device with the absolute pointer profile");
	if (!good[0])
		report("VD-432", SHOULD, NA, "no absolute pointer");
	else if (should[0])
		report("VD-432", SHOULD, MET, "0..32767, REL_HWHEEL, BTN_SIDE, BTN_EXTRA:%s", should);
	else
		report("VD-432", SHOULD, NOTMET, "%s", shouldbad + 1);
	/* VD-433 touch screen */
	bad[0] = good[0] = 0;
	int touches = 0;
	for (int i = 0; i < ninputs; i++) {
		const struct idev *in = &inputs[i];
		if (in->kind != KIND_TOUCH) continue;
		touches++;
		const struct input_absinfo *a = in->ai;
		char why[200] = "";
		if (!BIT(in->prop, INPUT_PROP_DIRECT)) add(why, sizeof why, " no INPUT_PROP_DIRECT");
		if (!BIT(in->key, BTN_TOUCH)) add(why, sizeof why, " no BTN_TOUCH");
		for (int k = BTN_LEFT; k <= BTN_TASK; k++)
			if (BIT(in->key, k)) {
				add(why, sizeof why, " has mouse button 0x%x", k);
				break;
			}
		if (!BIT(in->abs, ABS_X) || !BIT(in->abs, ABS_Y)) add(why, sizeof why, " no ABS_X/ABS_Y");
		if (!BIT(in->abs, ABS_MT_SLOT) || a[ABS_MT_SLOT].maximum < 9)
			add(why, sizeof why, " fewer than 10 slots");
		if (!BIT(in->abs, ABS_MT_TRACKING_ID) ||
		    a[ABS_MT_TRACKING_ID].minimum >= a[ABS_MT_TRACKING_ID].maximum)
			add(why, sizeof why, " no usable ABS_MT_TRACKING_ID");
		if (!BIT(in->abs, ABS_MT_POSITION_X) || !BIT(in->abs, ABS_MT_POSITION_Y) ||
		    a[ABS_MT_POSITION_X].minimum != a[ABS_X].minimum ||
		    a[ABS_MT_POSITION_X].maximum != a[ABS_X].maximum ||
		    a[ABS_MT_POSITION_Y].minimum != a[ABS_Y].minimum ||
		    a[ABS_MT_POSITION_Y].maximum != a[ABS_Y].maximum)
			add(why, sizeof why, " MT positions missing or not the ranges of ABS_X/ABS_Y");
		if (BIT(in->abs, ABS_MT_SLOT - 1)) add(why, sizeof why, " has ABS code 0x2e");
		if (why[0])
			add(bad, sizeof bad, " %s \"%s\":%s;", in->node, in->name, why);
		else
			add(good, sizeof good, " %s \"%s\" (%d slots)", in->node, in->name,
			    a[ABS_MT_SLOT].maximum + 1);
	}
	if (!touches)
		report("VD-433", MUST, NA, "no touch screen");
	else if (bad[0] || touches > 1)
		report("VD-433", MUST, NOTMET, "%d touch screens;%s", touches, bad);
	else
		report("VD-433", MUST, MET, "touch screen:%s", good);
	/* VD-434 */
	bad[0] = 0;
	for (int i = 0; i < ninputs; i++)
		if (inputs[i].iid.bustype != BUS_VIRTUAL || !inputs[i].name[0])
			add(bad, sizeof bad, " %s bus 0x%x name \"%s\";", inputs[i].node, inputs[i].iid.bustype,
			    inputs[i].name);
	if (!ninputs)
		report("VD-434", MUST, NA, "no virtio input devices");
	else
		report("VD-434", MUST, bad[0] ? NOTMET : MET, "%s",
		       bad[0] ? bad + 1 : "every virtio input device is BUS_VIRTUAL with a name");
	report("VD-435", MUST, NA, "needs host input events; checked by the virtio-input package tests");
}

static void check_simple_devices(void) {
	char bad[300] = "";
	int n = 0;
	for (int i = 0; i < ndevs; i++) {
		const struct vdev *v = &devs[i];
		if (v->id != 2) continue;
		n++;
		char p[PATH_MAX], ro[8] = "0";
		bfmt(p, sizeof p, "/sys/bus/virtio/devices/%s/block", v->name);
		DIR *d = opendir(p);
		struct dirent *e;
		while (d && (e = readdir(d)))
			if (e->d_name[0] != '.') {
				char q[PATH_MAX + 300];
				bfmt(q, sizeof q, "/sys/block/%s/ro", e->d_name);
				read_line(q, ro, sizeof ro);
			}
		if (d) closedir(d);
		if (!bound(v))
			add(bad, sizeof bad, " %s: not bound;", v->name);
		else if (!feat(v, 2) || !feat(v, 6) || !feat(v, 9) || (ro[0] == '1' && !feat(v, 5)))
			add(bad, sizeof bad, " %s: SEG_MAX %d BLK_SIZE %d FLUSH %d RO %d (read-only %s);",
			    v->name, feat(v, 2), feat(v, 6), feat(v, 9), feat(v, 5), ro);
	}
	if (!n)
		report("VD-440", MUST, NA, "no block device");
	else
		report("VD-440", MUST, bad[0] ? NOTMET : MET, "%s",
		       bad[0] ? bad + 1 : "SEG_MAX, BLK_SIZE and FLUSH on every block device");
	bad[0] = 0;
	for (int i = 0; i < ndevs; i++)
		if (devs[i].id == 2 && bound(&devs[i]) && (!feat(&devs[i], 13) || !feat(&devs[i], 14)))
			add(bad, sizeof bad, " %s: DISCARD %d WRITE_ZEROES %d;", devs[i].name,
			    feat(&devs[i], 13), feat(&devs[i], 14));
	if (!n)
		report("VD-441", SHOULD, NA, "no block device");
	else
		report("VD-441", SHOULD, bad[0] ? NOTMET : MET, "%s",
		       bad[0] ? bad + 1 : "DISCARD and WRITE_ZEROES offered");
	bad[0] = 0;
	n = 0;
	for (int i = 0; i < ndevs; i++)
		if (devs[i].id == 1) {
			n++;
			if (!feat(&devs[i], 5) || !feat(&devs[i], 16) || !feat(&devs[i], 15))
				add(bad, sizeof bad, " %s: MAC %d STATUS %d MRG_RXBUF %d;", devs[i].name,
				    feat(&devs[i], 5), feat(&devs[i], 16), feat(&devs[i], 15));
		}
	if (!n)
		report("VD-450", MUST, NA, "no network device");
	else
		report("VD-450", MUST, bad[0] ? NOTMET : MET, "%s",
		       bad[0] ? bad + 1 : "MAC, STATUS and MRG_RXBUF on every network device");
	n = count_id(3);
	report("VD-460", MUST, n == 0 ? NA : n == 1 ? MET : NOTMET, "%d console device(s)", n);
	n = count_id(4);
	report("VD-470", MUST, n == 0 ? NA : n == 1 ? MET : NOTMET, "%d entropy device(s)", n);
	n = count_id(17);
	if (!n)
		report("VD-480", SHOULD, NOTMET, "no virtio-rtc device (ID 17): no wall clock");
	else
		report("VD-480", MUST, n == 1 ? MET : NOTMET, "%d virtio-rtc device(s)", n);
}

/* ---- §5 transport ---- */

/* A virtio-mmio device the virtio_power driver registered at run time sits below another virtio device. */
static int hotplug_child(const struct vdev *v) {
	for (const char *s = strstr(v->sysdir, "/virtio"); s; s = strstr(s + 1, "/virtio"))
		if (s[7] >= '0' && s[7] <= '9') return 1;
	return 0;
}

static void check_transport(void) {
	char bad[400] = "";
	int mmio = 0, v1 = 0;
	for (int i = 0; i < ndevs; i++) {
		const struct vdev *v = &devs[i];
		if (!v->mmio || !bound(v)) continue;
		mmio++;
		if (feat(v, 32))
			v1++;
		else
			add(bad, sizeof bad, " %s", v->name);
	}
	if (!mmio)
		report("VD-501", MUST, NA, "no virtio-mmio device with a driver bound");
	else if (bad[0])
		report("VD-501", MUST, NOTMET, "without VERSION_1, so on a legacy transport:%s", bad);
	else
		report("VD-501", MUST, MET,
		       "%d virtio-mmio devices negotiated VERSION_1, which only version 2 carries", v1);

	/* VD-502: every device on virtio-mmio has a well-formed node. */
	bad[0] = 0;
	mmio = 0;
	for (int i = 0; i < ndevs; i++) {
		const struct vdev *v = &devs[i];
		if (!v->mmio || hotplug_child(v)) continue;
		mmio++;
		if (!v->ofnode[0]) {
			add(bad, sizeof bad, " %s has no device-tree node;", v->name);
			continue;
		}
		struct node *nd = find_node(v->ofnode);
		struct range r[2];
		uint32_t c[8];
		int nc = dt_cells(v->ofnode, "interrupts", c, 8);
		struct node *ip = irq_parent(v->ofnode);
		if (!nd || !node_compat(nd, "virtio,mmio"))
			add(bad, sizeof bad, " %s: not compatible virtio,mmio;", v->ofnode);
		if (dt_reg(v->ofnode, r, 2) != 1) add(bad, sizeof bad, " %s: reg is not one range;", v->ofnode);
		if (!ip || !dt_has(ip->path, "interrupt-controller"))
			add(bad, sizeof bad, " %s: no interrupt-parent controller;", v->ofnode);
		else if (nc != (int)cells_of(ip->path, "#interrupt-cells", 1))
			add(bad, sizeof bad, " %s: %d interrupt cells, not one interrupt;", v->ofnode, nc);
		else if (arch == ARM64 && (c[2] & 0xf) != 4)
			add(bad, sizeof bad, " %s: interrupt not level-high (flags %u);", v->ofnode, c[2]);
	}
	if (!mmio)
		report("VD-502", MUST, NA, "no virtio-mmio devices");
	else
		report("VD-502", MUST, bad[0] ? NOTMET : MET, "%s",
		       bad[0] ? bad + 1
			      : "every occupied slot has a virtio,mmio node with one range and one interrupt");

	/* VD-503/504: the described slots. */
	char empty[300] = "";
	int nslots = 0, nempty = 0;
	uint64_t size = 0, lo = UINT64_MAX;
	bad[0] = 0;
	struct range all[64];
	for (int i = 0; i < nnodes; i++) {
		if (!node_compat(&nodes[i], "virtio,mmio")) continue;
		struct range r;
		if (dt_reg(nodes[i].path, &r, 1) != 1) continue;
		int used = 0;
		for (int k = 0; k < ndevs; k++) used |= !strcmp(devs[k].ofnode, nodes[i].path);
		if (!used) {
			nempty++;
			add(empty, sizeof empty, " 0x%llx", (unsigned long long)r.base);
		}
		if (nslots < 64) all[nslots++] = r;
		if (!size) size = r.size;
		if (r.size != size)
			add(bad, sizeof bad, " slot 0x%llx is 0x%llx bytes, not 0x%llx;",
			    (unsigned long long)r.base, (unsigned long long)r.size, (unsigned long long)size);
		if (r.base < lo) lo = r.base;
	}
	if (!nslots)
		report("VD-503", SHOULD, NA, "no virtio-mmio slots described");
	else
		report("VD-503", SHOULD, nempty ? NOTMET : MET,
		       nempty ? "%d empty slots described:%s" : "all %d described slots are occupied%s",
		       nempty ? nempty : nslots, empty);
	if (size && (size < 0x200 || size % 0x200))
		add(bad, sizeof bad, " slot size 0x%llx;", (unsigned long long)size);
	for (int i = 0; i < nslots && size; i++) {
		if ((all[i].base - lo) % size)
			add(bad, sizeof bad, " slot 0x%llx off the 0x%llx stride;",
			    (unsigned long long)all[i].base, (unsigned long long)size);
		for (int k = i + 1; k < nslots; k++)
			if (all[i].base == all[k].base)
				add(bad, sizeof bad, " two slots at 0x%llx;", (unsigned long long)all[i].base);
	}
	if (!nslots)
		report("VD-504", MUST, NA, "no virtio-mmio slots described");
	else if (bad[0])
		report("VD-504", MUST, NOTMET, "%s", bad + 1);
	else
		report("VD-504", MUST, MET, "%d slots of 0x%llx bytes from 0x%llx at a constant stride", nslots,
		       (unsigned long long)size, (unsigned long long)lo);

	/* VD-505: hotplugged devices, as the inventory lists them. */
	int hp = 0;
	bad[0] = 0;
	for (int k = 0; k < ninv; k++) {
		if (strcmp(inv[k].flags, "hotplugged")) continue;
		hp++;
		if (arch == X86_64 || arch == OTHER || !in_window(inv[k].base) ||
		    inv[k].size != maps[arch].stride)
			add(bad, sizeof bad, " 0x%llx outside the virtio window or not a slot;", inv[k].base);
		for (int i = 0; i < nslots; i++)
			if (all[i].base == inv[k].base)
				add(bad, sizeof bad, " 0x%llx is also in the device tree;", inv[k].base);
	}
	if (!hp)
		report("VD-505", MUST, NA, "no hotplugged device in the inventory");
	else
		report("VD-505", MUST, bad[0] ? NOTMET : MET, "%s",
		       bad[0] ? bad + 1 : "hotplugged devices sit in free slots of the window");

	/* VD-511..513: PCI functions. */
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	int fns = 0, virtio = 0, bridge = 0, msix_low = 0;
	bad[0] = 0;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.') continue;
		fns++;
		char p[PATH_MAX], val[32];
		unsigned vendor, device, rev, cls;
		bfmt(p, sizeof p, "/sys/bus/pci/devices/%s/vendor", e->d_name);
		read_line(p, val, sizeof val);
		vendor = (unsigned)strtoul(val, NULL, 0);
		bfmt(p, sizeof p, "/sys/bus/pci/devices/%s/device", e->d_name);
		read_line(p, val, sizeof val);
		device = (unsigned)strtoul(val, NULL, 0);
		bfmt(p, sizeof p, "/sys/bus/pci/devices/%s/revision", e->d_name);
		read_line(p, val, sizeof val);
		rev = (unsigned)strtoul(val, NULL, 0);
		bfmt(p, sizeof p, "/sys/bus/pci/devices/%s/class", e->d_name);
		read_line(p, val, sizeof val);
		cls = (unsigned)strtoul(val, NULL, 0);
		if (!strcmp(e->d_name, "0000:00:00.0") && cls >> 8 == 0x0600) bridge = 1;
		if (vendor != 0x1af4) continue;
		virtio++;
		if (device < 0x1040 || device > 0x107f || rev < 1)
			add(bad, sizeof bad, " %s device 0x%x rev %u;", e->d_name, device, rev);
		bfmt(p, sizeof p, "/sys/bus/pci/devices/%s/msi_irqs", e->d_name);
		DIR *m = opendir(p);
		int vecs = 0;
		while (m && readdir(m)) vecs++;
		if (m) closedir(m);
		if (vecs - 2 < 2) msix_low++;
	}
	if (d) closedir(d);
	if (!fns) {
		static const char *const ids[] = {"VD-511", "VD-512"};
		na_all(ids, 2, "no PCI bus");
		report("VD-513", SHOULD, NA, "no PCI bus");
	} else {
		if (!virtio)
			report("VD-511", MUST, NA, "no virtio-pci functions");
		else
			report("VD-511", MUST, bad[0] ? NOTMET : MET, "%s",
			       bad[0] ? bad + 1 : "all virtio-pci functions are modern");
		report("VD-512", MUST, bridge ? MET : NOTMET,
		       bridge ? "host bridge at 00:00.0" : "no host bridge (class 0x0600) at 00:00.0");
		if (!virtio)
			report("VD-513", SHOULD, NA, "no virtio-pci functions");
		else
			report("VD-513", SHOULD, msix_low ? NOTMET : MET,
			       "%d of %d virtio functions with fewer than 2 MSI-X vectors", msix_low, virtio);
	}
}

/* ---- §6 memory map ---- */

/* The node of a compatible is at base (and on source irq when irq >= 0); missing optional nodes pass. */
static void expect_at(char *bad, size_t cap, const char *compat, uint64_t base, int irq, int optional) {
	struct node *n = find_compat(compat);
	if (!n) {
		if (!optional) add(bad, cap, " no %s;", compat);
		return;
	}
	struct range r;
	if (dt_reg(n->path, &r, 1) != 1 || r.base != base)
		add(bad, cap, " %s at 0x%llx, not 0x%llx;", compat, (unsigned long long)r.base,
		    (unsigned long long)base);
	if (irq >= 0) {
		uint32_t c[3];
		int nc = dt_cells(n->path, "interrupts", c, 3);
		uint32_t got = arch == ARM64 ? (nc >= 2 ? c[1] : ~0u) : (nc >= 1 ? c[0] : ~0u);
		if (got != (uint32_t)irq) add(bad, cap, " %s on source %d, not %d;", compat, (int)got, irq);
	}
}

static void check_map(const struct vdev *pw) {
	char w[64] = "";
	uint32_t src = ~0u;
	if (!pw)
		report("VD-601", MUST, NOTMET, "no virtio-power device");
	else if (arch == X86_64) {
		int ok = pw->pci && strstr(pw->sysdir, "0000:00:01.0");
		report("VD-601", MUST, ok ? MET : NOTMET, "virtio-power at %s", pw->sysdir);
	} else if (arch == RISCV64 || arch == ARM64) {
		const struct archmap *m = &maps[arch];
		where(pw, w, sizeof w);
		int ok = pw->has_reg && pw->reg.base == m->window && pw->reg.size == m->stride &&
			 irq_source(pw, &src) && src == m->first;
		report("VD-601", MUST, ok ? MET : NOTMET,
		       "virtio-power %s size 0x%llx source %d, fixed place 0x%llx size 0x%llx source %u", w,
		       (unsigned long long)pw->reg.size, (int)src, (unsigned long long)m->window,
		       (unsigned long long)m->stride, m->first);
	} else
		report("VD-601", MUST, NA, "no fixed place defined for %s", arch_name);

	char bad[500] = "";
	struct range ram = {0, 0};
	int have_ram = memory_range(&ram);
	if (arch == RISCV64 || arch == ARM64) {
		const struct archmap *m = &maps[arch];
		if (!have_ram || ram.base != m->ram)
			add(bad, sizeof bad, " RAM at 0x%llx, not 0x%llx;", (unsigned long long)ram.base,
			    (unsigned long long)m->ram);
		if (arch == RISCV64) {
			if (find_compat("sifive,plic-1.0.0"))
				expect_at(bad, sizeof bad, "sifive,plic-1.0.0", 0x0c000000, -1, 0);
			else
				expect_at(bad, sizeof bad, "riscv,plic0", 0x0c000000, -1, 0);
			if (find_compat("riscv,aclint-mswi"))
				expect_at(bad, sizeof bad, "riscv,aclint-mswi", 0x02000000, -1, 0);
			else
				expect_at(bad, sizeof bad, "riscv,clint0", 0x02000000, -1, 0);
			expect_at(bad, sizeof bad, "ns16550a", 0x10000000, 10, 1);
			expect_at(bad, sizeof bad, "sifive,test0", 0x00100000, -1, 1);
		} else {
			expect_at(bad, sizeof bad, "arm,gic-v3", 0x08000000, -1, 0);
			expect_at(bad, sizeof bad, "arm,pl011", 0x09000000, 1, 1);
		}
		for (int i = 0; i < ndevs; i++) {
			const struct vdev *v = &devs[i];
			if (!v->has_reg) continue;
			if (!in_window(v->reg.base)) {
				add(bad, sizeof bad, " %s at 0x%llx outside the window;", v->name,
				    (unsigned long long)v->reg.base);
				continue;
			}
			unsigned slot = (unsigned)((v->reg.base - m->window) / m->stride);
			if (!irq_source(v, &src) || src != m->first + slot)
				add(bad, sizeof bad, " slot %u (0x%llx) on source %d, not %u;", slot,
				    (unsigned long long)v->reg.base, (int)src, m->first + slot);
		}
		report("VD-602", SHOULD, bad[0] ? NOTMET : MET, "%s",
		       bad[0] ? bad + 1
			      : "RAM, interrupt controller, timer, UART and every slot where §6 puts them");
	} else if (arch == X86_64) {
		static char iomem[65536];
		ssize_t n = read_file("/proc/iomem", iomem, sizeof iomem - 1);
		iomem[n > 0 ? n : 0] = 0;
		int ok = strstr(iomem, "fec00000-") && strstr(iomem, "fee00000-");
		report("VD-602", SHOULD, ok ? MET : NOTMET,
		       "I/O APIC at 0xfec00000 %s, local APIC at 0xfee00000 %s",
		       strstr(iomem, "fec00000-") ? "yes" : "no", strstr(iomem, "fee00000-") ? "yes" : "no");
	} else
		report("VD-602", SHOULD, NA, "no recommended map for %s", arch_name);

	/* VD-603: register ranges of nodes on the root or on a simple-bus must not overlap each other or RAM. */
	struct {
		struct range r;
		const char *path;
	} rs[128];
	int nr = 0;
	bad[0] = 0;
	for (int i = 0; i < nnodes && nr < 128; i++) {
		const char *p = nodes[i].path;
		char parent[200];
		parent_of(p, parent, sizeof parent);
		struct node *pn = find_node(parent);
		if (!*p || !strncmp(p, "memory", 6) || !strncmp(p, "reserved-memory", 15) ||
		    !strncmp(p, "cpus", 4) || !strncmp(p, "chosen", 6) ||
		    (*parent && !(pn && node_compat(pn, "simple-bus"))))
			continue;
		struct range r[4];
		int k = dt_reg(p, r, 4);
		for (int j = 0; j < k && nr < 128; j++)
			if (r[j].size) {
				rs[nr].r = r[j];
				rs[nr++].path = p;
			}
	}
	for (int i = 0; i < nr; i++) {
		if (have_ram && rs[i].r.base < ram.base + ram.size && ram.base < rs[i].r.base + rs[i].r.size)
			add(bad, sizeof bad, " %s overlaps RAM;", rs[i].path);
		for (int k = i + 1; k < nr; k++)
			if (rs[i].r.base < rs[k].r.base + rs[k].r.size &&
			    rs[k].r.base < rs[i].r.base + rs[i].r.size)
				add(bad, sizeof bad, " %s overlaps %s;", rs[i].path, rs[k].path);
	}
	if (!have_dt)
		report("VD-603", MUST, NA, "no device tree: register ranges not listed");
	else if (bad[0])
		report("VD-603", MUST, NOTMET, "%s", bad + 1);
	else
		report("VD-603", MUST, MET, "%d register ranges, none overlapping another or RAM", nr);
}

/* ---- §7 boot ---- */

static int root_is_initramfs(void) {
	char buf[4096];
	ssize_t n = read_file("/proc/mounts", buf, sizeof buf - 1);
	if (n <= 0) return 0;
	buf[n] = 0;
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
		char dev[64], mnt[64], type[32];
		if (sscanf(l, "%63s %63s %31s", dev, mnt, type) == 3 && !strcmp(mnt, "/"))
			return !strcmp(type, "rootfs") || !strcmp(type, "tmpfs") || !strcmp(type, "ramfs");
	}
	return 0;
}

static void check_boot(void) {
	if (have_dt)
		report("VD-701", MUST, MET,
		       "the kernel started with a flattened device tree describing the machine");
	else
		report("VD-701", MUST, MET, "the kernel is running (no device tree: x86 boot protocol)");
	if (!have_dt)
		report("VD-702", MUST, NA, "no device tree");
	else {
		char bad[300] = "", b[8];
		if (!dt_has("chosen", "bootargs")) add(bad, sizeof bad, " no /chosen/bootargs;");
		int uart = find_compat("ns16550a") || find_compat("ns16550") || find_compat("arm,pl011");
		if (uart && !dt_str("chosen", "stdout-path", b, sizeof b))
			add(bad, sizeof bad, " a UART but no stdout-path;");
		int initrd = root_is_initramfs();
		if (initrd) {
			uint32_t s[2], e[2];
			int ns = dt_cells("chosen", "linux,initrd-start", s, 2),
			    ne = dt_cells("chosen", "linux,initrd-end", e, 2);
			uint64_t vs = ns == 2 ? (uint64_t)s[0] << 32 | s[1] : ns == 1 ? s[0] : 0;
			uint64_t ve = ne == 2 ? (uint64_t)e[0] << 32 | e[1] : ne == 1 ? e[0] : 0;
			if (ns < 1 || ne < 1 || ve <= vs)
				add(bad, sizeof bad,
				    " running from an initramfs without linux,initrd-start/-end;");
		}
		report("VD-702", MUST, bad[0] ? NOTMET : MET, "%s",
		       bad[0]   ? bad + 1
		       : initrd ? "bootargs, stdout-path and the initrd range in /chosen"
				: "bootargs and stdout-path in /chosen");
	}
	int online = online_cpus(), n = have_dt ? ncpus_dt() : online;
	if (arch == RISCV64) {
		int hsm = klog_has("SBI HSM extension detected");
		report("VD-703", MUST, hsm && online == n ? MET : NOTMET, "SBI HSM %s, %d of %d harts online",
		       hsm ? "present" : "absent", online, n);
	} else
		report("VD-703", MUST, online == n ? MET : NOTMET, "%d of %d processors online", online, n);
	if (have_dt) {
		char compat[160], model[128], want[40];
		ssize_t cl = dt_prop("", "compatible", compat, sizeof compat - 1);
		bfmt(want, sizeof want, "virtio-desktop,%s", arch == ARM64 ? "arm64" : arch_name);
		int has = cl > 0 && list_has(compat, (int)cl, want),
		    hm = dt_str("", "model", model, sizeof model);
		for (ssize_t i = 0; i + 1 < cl; i++)
			if (!compat[i]) compat[i] = ' ';
		if (cl < 0) cl = 0;
		compat[cl] = 0;
		report("VD-704", MUST, has && hm ? MET : NOTMET, "compatible \"%s\", model \"%s\" (wanted %s)",
		       compat, model, want);
	} else {
		char prod[80];
		read_line("/sys/class/dmi/id/product_name", prod, sizeof prod);
		report("VD-704", MUST, !strncmp(prod, "virtio-desktop", 14) ? MET : NA,
		       "SMBIOS product name \"%s\"", prod);
	}
}

/* ---- §8 power ---- */

static void check_power_model(void) {
	report("VD-801", MUST, NA,
	       "powering off cannot be observed from inside; checked by tests/power.test.ts");
	if (arch == RISCV64 && klog_has("SBI SRST extension detected"))
		report("VD-802", MUST, NA,
		       "SBI SRST offered; that it acts like virtio-power is checked by tests/boot.test.ts");
	else
		report("VD-802", MUST, NA, "no native power mechanism seen, or not observable");
	report("VD-803", MUST, NA, "needs a host request; checked by tests/power.test.ts");
	report("VD-804", MUST, NA, "needs a reboot; checked by tests/power.test.ts");
}

/* ---- §9.2 guest ---- */

static void check_guest(const struct vdev *pw) {
	char cmdline[2048] = "", bad[300] = "";
	read_line("/proc/cmdline", cmdline, sizeof cmdline);
	if (strstr(cmdline, "virtio_mmio.device="))
		add(bad, sizeof bad, " virtio_mmio.device= on the command line;");
	for (int i = 0; i < ndevs; i++)
		if (devs[i].mmio && !devs[i].ofnode[0] && !hotplug_child(&devs[i]))
			add(bad, sizeof bad, " %s found without the device tree;", devs[i].name);
	report("VG-901", MUST, bad[0] ? NOTMET : MET, "%s",
	       bad[0] ? bad + 1
		      : "every device was found through the device tree, PCI or virtio-power hotplug");
	static const unsigned known[] = {VIRTIO_ID_POWER, 16, 18, 2, 1, 3, 4};
	bad[0] = 0;
	int n = 0;
	for (int i = 0; i < ndevs; i++)
		for (int k = 0; k < 7; k++)
			if (devs[i].id == known[k]) {
				n++;
				if (!bound(&devs[i]))
					add(bad, sizeof bad, " %s(id %u)", devs[i].name, devs[i].id);
			}
	if (bad[0])
		report("VG-902", MUST, NOTMET, "no driver bound to:%s", bad);
	else
		report("VG-902", MUST, n ? MET : NA, "drivers bound to all %d devices of section 4", n);
	if (!pw)
		report("VG-903", MUST, NA, "no virtio-power device");
	else {
		int ok = !strcmp(pw->driver, "virtio_power") && feat(pw, 0) && feat(pw, 1);
		report("VG-903", MUST, ok ? MET : NOTMET,
		       "driver \"%s\", INVENTORY %d HOST_REQUESTS %d HOTPLUG %d", pw->driver, feat(pw, 0),
		       feat(pw, 1), feat(pw, 2));
	}
	each_bound("VG-904", MUST, has_v1, "VERSION_1 negotiated");
	report("VG-905", MUST, NA, "DEVICE_NEEDS_RESET handling is not observable");
	char vs[32], size[40] = "";
	int fw = 0, fh = 0, mw = 0, mh = 0, have = 0;
	if (read_line("/sys/class/graphics/fb0/virtual_size", vs, sizeof vs)) sscanf(vs, "%d,%d", &fw, &fh);
	for (int i = 0; i < nconns && !have; i++)
		if (!strcmp(conns[i].status, "connected") && sscanf(conns[i].mode, "%dx%d", &mw, &mh) == 2) {
			have = 1;
			bfmt(size, sizeof size, "%s", conns[i].mode);
		}
	if (!have || !fw)
		report("VG-906", SHOULD, NA, "no framebuffer console on a connected display");
	else
		report("VG-906", SHOULD, fw == mw && fh == mh ? MET : NOTMET, "fb0 %dx%d, preferred mode %s",
		       fw, fh, size);
}

int main(int argc, char **argv) {
	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: vdesk-conform\n");
		return 2;
	}
	struct utsname u;
	uname(&u);
	arch = !strcmp(u.machine, "riscv64")   ? RISCV64
	       : !strcmp(u.machine, "aarch64") ? ARM64
	       : !strcmp(u.machine, "x86_64")  ? X86_64
					       : OTHER;
	arch_name = arch == RISCV64  ? "riscv64"
		    : arch == ARM64  ? "arm64"
		    : arch == X86_64 ? "x86_64"
				     : u.machine;
	if (!exists(dt)) dt = "/proc/device-tree";
	have_dt = exists(dt);
	if (have_dt) dt_walk("", 0);
	read_klog();
	scan_virtio();
	scan_inputs();
	scan_drm();
	const struct vdev *pw = first_id(VIRTIO_ID_POWER);
	read_inventory(pw);
	char model[96] = "";
	if (have_dt) dt_str("", "model", model, sizeof model);
	printf("# vdesk-conform: spec/virtio-desktop.md 0.1 on %s%s%s\n", arch_name, model[0] ? ", " : "",
	       model);

	static const char *const riscv_ids[] = {"VD-301", "VD-302", "VD-303", "VD-304",
						"VD-305", "VD-306", "VD-307", "VD-308"};
	static const char *const arm_ids[] = {"VD-321", "VD-322", "VD-323", "VD-324"};
	static const char *const x86_ids[] = {"VD-341", "VD-342", "VD-343"};
	if (arch == RISCV64)
		check_riscv();
	else
		for (int i = 0; i < 8; i++)
			report(riscv_ids[i], i == 4 || i == 6 ? SHOULD : MUST, NA, "not a riscv64 machine");
	if (arch == ARM64)
		check_arm();
	else
		na_all(arm_ids, 4, "not an arm64 machine");
	if (arch == X86_64)
		check_x86();
	else
		na_all(x86_ids, 3, "not an x86_64 machine");

	each_bound("VD-401", MUST, has_v1, "VERSION_1 offered");
	each_bound("VD-402", MUST, no_access_platform, "ACCESS_PLATFORM not offered");
	each_bound("VD-403", SHOULD, ring_feats, "INDIRECT_DESC and EVENT_IDX offered");
	report("VD-404", MUST, NA,
	       "needs malformed requests; checked by each device package's hostile-guest tests");
	check_power(pw);
	check_display();
	check_input();
	check_simple_devices();
	check_transport();
	check_map(pw);
	check_boot();
	check_power_model();
	check_guest(pw);

	printf("summary: %d met, %d not-met (%d mandatory%s%s), %d n/a: %s\n", counts[MET], counts[NOTMET],
	       must_failed, must_failed ? ": " : "", failed_ids, counts[NA],
	       must_failed ? "does not conform" : "conforms");
	return must_failed ? 1 : 0;
}
