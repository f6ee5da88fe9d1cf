// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-power: power-off, reboot, host shutdown/reboot requests, machine
 * inventory and virtio-mmio hotplug for virtio-desktop guests.
 * Device protocol: spec/virtio-power.md in the virtio-desktop repository.
 *
 * Power-off and reboot go through the config-space `command` register, not a
 * virtqueue: by the time sys-off handlers run, device_shutdown() has already
 * broken every virtqueue and reset every virtio device (virtio_dev_shutdown).
 *
 * A host POWER_OFF request is a press of the power button: it is reported as
 * KEY_POWER on an input device so that the desktop's policy (logind, its
 * inhibitors, "unsaved work" dialogs) decides. Only when nobody has that input
 * device open does the driver start an orderly power-off itself. The host's
 * later FORCE_POWER_OFF request shuts down without asking.
 */
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/input.h>
#include <linux/ioport.h>
#include <linux/irqdomain.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/of.h>
#include <linux/of_irq.h>
#include <linux/platform_device.h>
#include <linux/reboot.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>
#include <linux/workqueue.h>

/*
 * Provisional, not allocated by OASIS (spec/virtio-power.md, "Device ID"):
 * 60-63 are taken in practice by crosvm and Gunyah. Keep it in this one place.
 */
#define VIRTIO_ID_POWER 58

#define VIRTIO_POWER_F_INVENTORY 0
#define VIRTIO_POWER_F_HOST_REQUESTS 1
#define VIRTIO_POWER_F_HOTPLUG 2

#define VPOWER_HOST_REQ_NONE 0
#define VPOWER_HOST_REQ_POWER_OFF 1
#define VPOWER_HOST_REQ_REBOOT 2
#define VPOWER_HOST_REQ_FORCE_POWER_OFF 4

#define VPOWER_CMD_POWER_OFF 0x50570001
#define VPOWER_CMD_REBOOT 0x50570002

#define VPOWER_REQ_INVENTORY_READ 1
#define VPOWER_REQ_ACK 2

#define VPOWER_S_OK 0

#define VPOWER_ACK_ACCEPTED 0
#define VPOWER_ACK_REFUSED 1

#define VPOWER_EV_DEVICE_ADDED 1
#define VPOWER_EV_DEVICE_REMOVED 2
#define VPOWER_EV_EVENTS_LOST 3

#define VPOWER_INV_MAGIC 0x4e495056 /* "VPIN" */
#define VPOWER_INV_FORMAT 1
#define VPOWER_INV_HEADER_MIN 128
#define VPOWER_INV_ENTRY_MIN 72
#define VPOWER_INV_FLAG_HOTPLUGGED 1
#define VPOWER_INV_FLAG_SELF 2
#define VPOWER_TRANSPORT_MMIO 1
#define VPOWER_TRANSPORT_PCI 2
#define VPOWER_IRQ_NONE 0 /* else IRQ_TYPE_* of the devicetree encoding */
/* A hostile or broken device must not make us allocate without bound. */
#define VPOWER_INV_MAX (1024 * 1024)
#define VPOWER_EVBUFS 16
#define VPOWER_REQ_TIMEOUT (5 * HZ)
/* How long a sys-off handler waits for the host before letting the next handler try. */
#define VPOWER_SYS_OFF_WAIT_MS 500
/* Ahead of SBI SRST (192) so that the host hears it from us. */
#define VPOWER_SYS_OFF_PRIO (SYS_OFF_PRIO_HIGH + 8)

struct virtio_power_config {
	__le32 reserved0;
	__le32 host_request;
	__le32 host_request_seq;
	__le32 inventory_size;
	__le32 inventory_generation;
	__le32 command;
	__le32 max_read;
	__le32 reserved;
};

struct vpower_req {
	__le32 type;
	__le32 flags;
	__le32 arg0;
	__le32 arg1;
};

struct vpower_resp {
	__le32 status;
	__le32 generation;
	__le32 total_size;
	__le32 length;
};

struct vpower_event {
	__le16 type;
	u8 transport;
	u8 irq_type;
	__le32 seq;
	__le32 device_id;
	__le32 irq;
	__le64 base;
	__le64 size;
};

struct vpower_inv_header {
	__le32 magic;
	__le16 format;
	__le16 header_size;
	__le32 total_size;
	__le32 generation;
	u8 uuid[16];
	__le64 ram_base;
	__le64 ram_size;
	__le32 harts;
	__le16 irqchip;
	__le16 timer;
	__le16 spec_major;
	__le16 spec_minor;
	__le16 entry_size;
	__le16 reserved0;
	__le32 device_count;
	__le32 devices_offset;
	__le64 irqchip_base;
	char name[48];
};

struct vpower_inv_entry {
	__le32 device_id;
	__le32 irq;
	__le64 base;
	__le64 size;
	__le16 transport;
	__le16 flags;
	__le32 instance;
	u8 irq_type;
	u8 reserved[7];
	char name[32];
};

static_assert(sizeof(struct virtio_power_config) == 32);
static_assert(sizeof(struct vpower_event) == 32);
static_assert(sizeof(struct vpower_inv_header) == VPOWER_INV_HEADER_MIN);
static_assert(sizeof(struct vpower_inv_entry) == VPOWER_INV_ENTRY_MIN);

/*
 * A virtio-mmio device this driver registered because the host hotplugged it.
 * Its identity is the instance (the DEVICE_ADDED seq), not its base: a slot
 * can be emptied and filled again while events were lost.
 */
struct vpower_hp {
	struct list_head node;
	u64 base;
	u64 size;
	u32 hwirq;
	u32 device_id;
	u32 instance;
	unsigned int virq;
	bool own_mapping; /* we created the irq mapping, so we dispose of it */
	struct platform_device *pdev;
};

struct vpower {
	struct virtio_device *vdev;
	struct virtqueue *reqq;
	struct virtqueue *evq;
	spinlock_t lock; /* reqq ring and the ready flag */
	bool ready;

	struct mutex req_lock; /* one request in flight */
	struct completion req_done;
	unsigned int req_used;
	bool req_broken; /* a request timed out: its buffers still belong to the device */
	struct vpower_req *req;
	struct vpower_resp *resp;
	u8 *page; /* DMA-able bounce buffer for inventory slices */

	struct vpower_event *evbufs;
	struct work_struct event_work;
	struct work_struct config_work;
	bool resync; /* event_work reconciles with the inventory first */
	u32 handled_seq;

	struct input_dev *button; /* KEY_POWER for host POWER_OFF requests */

	struct mutex inv_lock; /* inv, inv_len, inv_gen */
	u8 *inv; /* cached blob, valid while inv_gen matches the config */
	size_t inv_len;
	u32 inv_gen;

	struct mutex hp_lock; /* the hotplugged list */
	struct list_head hotplugged;
	struct device_node *intc;

	struct sys_off_handler *poweroff_h;
	struct sys_off_handler *restart_h;
};

static bool vpower_has(struct vpower *vp, unsigned int f)
{
	return virtio_has_feature(vp->vdev, f);
}

/* ------------------------------------------------------------ requestq */

static void vpower_req_done(struct virtqueue *vq)
{
	struct vpower *vp = vq->vdev->priv;
	unsigned long flags;
	unsigned int len;

	spin_lock_irqsave(&vp->lock, flags);
	while (virtqueue_get_buf(vq, &len)) {
		vp->req_used = len;
		complete(&vp->req_done);
	}
	spin_unlock_irqrestore(&vp->lock, flags);
}

/*
 * Send one request and wait for its answer. `data_len` bytes of vp->page
 * receive the payload (inventory reads). Returns 0 and fills *out, or -errno.
 */
static int vpower_request(struct vpower *vp, u32 type, u32 arg0, u32 arg1,
			  size_t data_len, struct vpower_resp *out)
{
	struct scatterlist sg_out, sg_in, sg_data, *sgs[3];
	unsigned int n = 0;
	unsigned long flags;
	int err;

	mutex_lock(&vp->req_lock);
	if (vp->req_broken) {
		err = -EIO;
		goto out;
	}
	vp->req->type = cpu_to_le32(type);
	vp->req->flags = 0;
	vp->req->arg0 = cpu_to_le32(arg0);
	vp->req->arg1 = cpu_to_le32(arg1);
	memset(vp->resp, 0, sizeof(*vp->resp));
	sg_init_one(&sg_out, vp->req, sizeof(*vp->req));
	sg_init_one(&sg_in, vp->resp, sizeof(*vp->resp));
	sgs[n++] = &sg_out;
	sgs[n++] = &sg_in;
	if (data_len) {
		sg_init_one(&sg_data, vp->page, data_len);
		sgs[n++] = &sg_data;
	}
	reinit_completion(&vp->req_done);
	spin_lock_irqsave(&vp->lock, flags);
	err = virtqueue_add_sgs(vp->reqq, sgs, 1, n - 1, vp, GFP_ATOMIC);
	if (!err)
		virtqueue_kick(vp->reqq);
	spin_unlock_irqrestore(&vp->lock, flags);
	if (err)
		goto out;
	if (!wait_for_completion_timeout(&vp->req_done, VPOWER_REQ_TIMEOUT)) {
		dev_err(&vp->vdev->dev, "request %u timed out; requests disabled\n", type);
		vp->req_broken = true;
		err = -ETIMEDOUT;
		goto out;
	}
	*out = *vp->resp;
	if (vp->req_used < sizeof(*vp->resp) ||
	    le32_to_cpu(out->length) > data_len ||
	    vp->req_used < sizeof(*vp->resp) + le32_to_cpu(out->length)) {
		dev_warn(&vp->vdev->dev, "request %u: short or inconsistent answer\n", type);
		err = -EPROTO;
	}
out:
	mutex_unlock(&vp->req_lock);
	return err;
}

static void vpower_ack(struct vpower *vp, u32 seq, bool accepted)
{
	struct vpower_resp r;
	int err;

	err = vpower_request(vp, VPOWER_REQ_ACK, seq,
			     accepted ? VPOWER_ACK_ACCEPTED : VPOWER_ACK_REFUSED, 0, &r);
	if (!err && le32_to_cpu(r.status) != VPOWER_S_OK)
		err = -EINVAL;
	if (err)
		dev_warn(&vp->vdev->dev, "ack of seq %u failed: %d\n", seq, err);
}

/* ----------------------------------------------------------- inventory */

static u32 vpower_cfg_inv_gen(struct vpower *vp)
{
	u32 gen;

	virtio_cread_le(vp->vdev, struct virtio_power_config, inventory_generation, &gen);
	return gen;
}

/* Checks that the blob's tables lie inside it; everything after relies on this. */
static bool vpower_inv_valid(const u8 *b, size_t len)
{
	const struct vpower_inv_header *h = (const void *)b;
	u64 end;

	/* A new format is an incompatible layout; growth only raises the sizes. */
	if (len < sizeof(*h) || le32_to_cpu(h->magic) != VPOWER_INV_MAGIC ||
	    le16_to_cpu(h->format) != VPOWER_INV_FORMAT)
		return false;
	if (le32_to_cpu(h->total_size) != len ||
	    le16_to_cpu(h->header_size) < VPOWER_INV_HEADER_MIN ||
	    le16_to_cpu(h->entry_size) < VPOWER_INV_ENTRY_MIN ||
	    le32_to_cpu(h->devices_offset) < le16_to_cpu(h->header_size))
		return false;
	end = (u64)le32_to_cpu(h->devices_offset) +
	      (u64)le32_to_cpu(h->device_count) * le16_to_cpu(h->entry_size);
	return end <= len;
}

static const struct vpower_inv_entry *vpower_inv_entry(const u8 *b, u32 i)
{
	const struct vpower_inv_header *h = (const void *)b;

	return (const void *)(b + le32_to_cpu(h->devices_offset) +
			      (size_t)i * le16_to_cpu(h->entry_size));
}

/*
 * Read the whole inventory in page-sized slices. A generation change between
 * slices means the machine changed under us: start over (a few times).
 */
static int vpower_inv_fetch(struct vpower *vp, u8 **blob, size_t *blob_len, u32 *gen_out)
{
	struct vpower_resp r;
	int attempt, err = -EAGAIN;

	for (attempt = 0; attempt < 4; attempt++) {
		u8 *buf = NULL;
		size_t off = 0, total = 0;
		u32 gen = 0;

		for (;;) {
			size_t n;

			err = vpower_request(vp, VPOWER_REQ_INVENTORY_READ, off, PAGE_SIZE,
					     PAGE_SIZE, &r);
			if (!err && le32_to_cpu(r.status) != VPOWER_S_OK)
				err = -EIO;
			if (err)
				break;
			n = le32_to_cpu(r.length);
			if (!buf) {
				total = le32_to_cpu(r.total_size);
				gen = le32_to_cpu(r.generation);
				if (total > VPOWER_INV_MAX ||
				    total < sizeof(struct vpower_inv_header)) {
					err = -EPROTO;
					break;
				}
				buf = kvzalloc(total, GFP_KERNEL);
				if (!buf) {
					err = -ENOMEM;
					break;
				}
			} else if (le32_to_cpu(r.generation) != gen ||
				   le32_to_cpu(r.total_size) != total) {
				err = -EAGAIN;
				break;
			}
			if (n > total - off) {
				err = -EPROTO;
				break;
			}
			if (n == 0) {
				/* Nothing more before the end: the device contradicts itself. */
				err = -EPROTO;
				break;
			}
			memcpy(buf + off, vp->page, n);
			off += n;
			if (off == total)
				break;
		}
		if (!err && !vpower_inv_valid(buf, total))
			err = -EPROTO;
		if (!err) {
			*blob = buf;
			*blob_len = total;
			*gen_out = gen;
			return 0;
		}
		kvfree(buf);
		if (err != -EAGAIN)
			break;
	}
	return err;
}

/* Refresh the cached inventory if the device says it changed; caller holds inv_lock. */
static int vpower_inv_refresh(struct vpower *vp)
{
	u8 *blob;
	size_t len;
	u32 gen;
	int err;

	if (!vpower_has(vp, VIRTIO_POWER_F_INVENTORY))
		return -EOPNOTSUPP;
	if (vp->inv && vp->inv_gen == vpower_cfg_inv_gen(vp))
		return 0;
	err = vpower_inv_fetch(vp, &blob, &len, &gen);
	if (err)
		return err;
	kvfree(vp->inv);
	vp->inv = blob;
	vp->inv_len = len;
	vp->inv_gen = gen;
	return 0;
}

/* ------------------------------------------------------------- hotplug */

static struct vpower_hp *vpower_hp_find(struct vpower *vp, u64 base)
{
	struct vpower_hp *hp;

	list_for_each_entry(hp, &vp->hotplugged, node)
		if (hp->base == base)
			return hp;
	return NULL;
}

/*
 * The event's interrupt -> Linux irq, through the controller that serves the
 * power device itself, with a specifier built for that controller's
 * #interrupt-cells: <irq>, <irq type> or <GIC_SPI irq type>.
 */
static int vpower_map_irq(struct vpower *vp, u32 hwirq, u8 type, unsigned int *virq,
			  bool *own)
{
	struct of_phandle_args args = { .np = vp->intc };
	struct irq_domain *d;
	u32 cells, limit;

	if (!vp->intc)
		return -ENODEV;
	if (of_property_read_u32(vp->intc, "#interrupt-cells", &cells))
		return -EINVAL;
	/* Do not hand the domain a number the controller says it lacks. */
	if ((!of_property_read_u32(vp->intc, "riscv,ndev", &limit) ||
	     !of_property_read_u32(vp->intc, "riscv,num-sources", &limit)) && hwirq > limit)
		return -ERANGE;
	switch (cells) {
	case 1:
		args.args[0] = hwirq;
		break;
	case 2:
		args.args[0] = hwirq;
		args.args[1] = type;
		break;
	case 3: /* Arm GIC: SPI, number, flags */
		args.args[0] = 0;
		args.args[1] = hwirq;
		args.args[2] = type;
		break;
	default:
		return -EOPNOTSUPP;
	}
	args.args_count = cells;
	d = irq_find_host(vp->intc);
	*own = !(d && irq_find_mapping(d, hwirq));
	*virq = irq_create_of_mapping(&args);
	return *virq ? 0 : -EINVAL;
}

/* Caller holds hp_lock. */
static void vpower_hp_del(struct vpower *vp, struct vpower_hp *hp);

/* Caller holds hp_lock. */
static int vpower_hp_add(struct vpower *vp, u32 instance, u32 device_id, u8 transport,
			 u64 base, u64 size, u32 hwirq, u8 irq_type)
{
	struct resource res[2];
	struct vpower_hp *hp;
	int err;

	hp = vpower_hp_find(vp, base);
	if (hp && hp->instance == instance)
		return 0;
	/* Another device in the same window: the one we hold was removed. */
	if (hp)
		vpower_hp_del(vp, hp);
	/* Only virtio-mmio needs us; a PCI function is found by the PCI core. */
	if (transport != VPOWER_TRANSPORT_MMIO || irq_type == VPOWER_IRQ_NONE)
		return -EOPNOTSUPP;
	/* The machine has exactly one power device; a nested one would recurse into our locks. */
	if (!base || !size || base + size < base || device_id == VIRTIO_ID_POWER)
		return -EINVAL;
	hp = kzalloc(sizeof(*hp), GFP_KERNEL);
	if (!hp)
		return -ENOMEM;
	hp->base = base;
	hp->size = size;
	hp->hwirq = hwirq;
	hp->device_id = device_id;
	hp->instance = instance;
	err = vpower_map_irq(vp, hwirq, irq_type, &hp->virq, &hp->own_mapping);
	if (err)
		goto free;
	res[0] = DEFINE_RES_MEM(base, size);
	res[1] = DEFINE_RES_IRQ(hp->virq);
	/* Children of the virtio device, so they show up under it and go with it. */
	hp->pdev = platform_device_register_resndata(&vp->vdev->dev, "virtio-mmio",
						     PLATFORM_DEVID_AUTO, res, 2, NULL, 0);
	if (IS_ERR(hp->pdev)) {
		err = PTR_ERR(hp->pdev);
		goto unmap;
	}
	list_add_tail(&hp->node, &vp->hotplugged);
	dev_info(&vp->vdev->dev, "hotplug: virtio-mmio at 0x%llx+0x%llx irq %u (virq %u) as %s\n",
		 base, size, hwirq, hp->virq, dev_name(&hp->pdev->dev));
	return 0;
unmap:
	if (hp->own_mapping)
		irq_dispose_mapping(hp->virq);
free:
	dev_warn(&vp->vdev->dev, "hotplug: cannot add device at 0x%llx: %d\n", base, err);
	kfree(hp);
	return err;
}

/* Caller holds hp_lock. */
static void vpower_hp_del(struct vpower *vp, struct vpower_hp *hp)
{
	dev_info(&vp->vdev->dev, "hotplug: removing %s at 0x%llx\n",
		 dev_name(&hp->pdev->dev), hp->base);
	list_del(&hp->node);
	platform_device_unregister(hp->pdev);
	if (hp->own_mapping)
		irq_dispose_mapping(hp->virq);
	kfree(hp);
}

/* Make the registered set match the inventory's hotplugged entries. */
static void vpower_hp_sync(struct vpower *vp)
{
	struct vpower_hp *hp, *tmp;
	const struct vpower_inv_header *h;
	u32 i, count;
	int err;

	mutex_lock(&vp->inv_lock);
	err = vpower_inv_refresh(vp);
	if (err) {
		mutex_unlock(&vp->inv_lock);
		if (err != -EOPNOTSUPP)
			dev_warn(&vp->vdev->dev, "hotplug sync: inventory unreadable: %d\n", err);
		return;
	}
	h = (const void *)vp->inv;
	count = le32_to_cpu(h->device_count);
	mutex_lock(&vp->hp_lock);
	list_for_each_entry_safe(hp, tmp, &vp->hotplugged, node) {
		bool present = false;

		for (i = 0; i < count && !present; i++) {
			const struct vpower_inv_entry *e = vpower_inv_entry(vp->inv, i);

			present = le64_to_cpu(e->base) == hp->base &&
				  le32_to_cpu(e->instance) == hp->instance &&
				  (le16_to_cpu(e->flags) & VPOWER_INV_FLAG_HOTPLUGGED);
		}
		if (!present)
			vpower_hp_del(vp, hp);
	}
	for (i = 0; i < count; i++) {
		const struct vpower_inv_entry *e = vpower_inv_entry(vp->inv, i);

		if (!(le16_to_cpu(e->flags) & VPOWER_INV_FLAG_HOTPLUGGED))
			continue;
		vpower_hp_add(vp, le32_to_cpu(e->instance), le32_to_cpu(e->device_id),
			      le16_to_cpu(e->transport), le64_to_cpu(e->base),
			      le64_to_cpu(e->size), le32_to_cpu(e->irq), e->irq_type);
	}
	mutex_unlock(&vp->hp_lock);
	mutex_unlock(&vp->inv_lock);
}

static void vpower_handle_event(struct vpower *vp, const struct vpower_event *ev)
{
	u32 seq = le32_to_cpu(ev->seq);
	u64 base = le64_to_cpu(ev->base);
	struct vpower_hp *hp;
	bool found;
	int err = 0;

	switch (le16_to_cpu(ev->type)) {
	case VPOWER_EV_DEVICE_ADDED:
		mutex_lock(&vp->hp_lock);
		err = vpower_hp_add(vp, seq, le32_to_cpu(ev->device_id), ev->transport, base,
				    le64_to_cpu(ev->size), le32_to_cpu(ev->irq), ev->irq_type);
		mutex_unlock(&vp->hp_lock);
		vpower_ack(vp, seq, !err);
		break;
	case VPOWER_EV_DEVICE_REMOVED:
		mutex_lock(&vp->hp_lock);
		hp = vpower_hp_find(vp, base);
		found = hp;
		if (hp)
			vpower_hp_del(vp, hp);
		mutex_unlock(&vp->hp_lock);
		vpower_ack(vp, seq, found);
		break;
	case VPOWER_EV_EVENTS_LOST:
		dev_warn(&vp->vdev->dev, "hotplug events lost; resyncing from the inventory\n");
		vpower_hp_sync(vp);
		break;
	default:
		dev_warn(&vp->vdev->dev, "unknown event type %u ignored\n", le16_to_cpu(ev->type));
	}
}

/* ------------------------------------------------------------- eventq */

static int vpower_post_event_buf(struct vpower *vp, struct vpower_event *ev)
{
	struct scatterlist sg;

	sg_init_one(&sg, ev, sizeof(*ev));
	return virtqueue_add_inbuf(vp->evq, &sg, 1, ev, GFP_KERNEL);
}

static void vpower_event_work(struct work_struct *work)
{
	struct vpower *vp = container_of(work, struct vpower, event_work);
	struct vpower_event *buf, ev;
	unsigned int len;

	/* After probe or restore: devices hotplugged meanwhile are only in the inventory. */
	if (READ_ONCE(vp->resync)) {
		WRITE_ONCE(vp->resync, false);
		if (vpower_has(vp, VIRTIO_POWER_F_HOTPLUG))
			vpower_hp_sync(vp);
	}
	/* Only this work touches evq after probe, so no lock is needed. */
	while ((buf = virtqueue_get_buf(vp->evq, &len)) != NULL) {
		bool whole = len >= sizeof(ev);

		if (whole)
			memcpy(&ev, buf, sizeof(ev));
		vpower_post_event_buf(vp, buf);
		virtqueue_kick(vp->evq);
		if (whole)
			vpower_handle_event(vp, &ev);
	}
}

static void vpower_event_cb(struct virtqueue *vq)
{
	struct vpower *vp = vq->vdev->priv;
	unsigned long flags;

	spin_lock_irqsave(&vp->lock, flags);
	if (vp->ready)
		schedule_work(&vp->event_work);
	spin_unlock_irqrestore(&vp->lock, flags);
}

/* ------------------------------------------------------ host requests */

/*
 * A press of the power button: a program that holds the button's event node
 * open (logind, a desktop's power manager, acpid) applies the user's policy.
 * In-kernel handlers (the VT keyboard, sysrq) open every key device and do
 * nothing with KEY_POWER, so only evdev clients count. Returns false when
 * nobody listens, so the caller falls back to an orderly power-off.
 */
static bool vpower_press_button(struct vpower *vp)
{
	struct input_dev *b = vp->button;
	struct input_handle *h;
	bool listened = false;

	if (!b)
		return false;
	mutex_lock(&b->mutex);
	list_for_each_entry(h, &b->h_list, d_node)
		if (h->open && !strcmp(h->handler->name, "evdev"))
			listened = true;
	mutex_unlock(&b->mutex);
	if (!listened)
		return false;
	input_report_key(b, KEY_POWER, 1);
	input_sync(b);
	input_report_key(b, KEY_POWER, 0);
	input_sync(b);
	return true;
}

static void vpower_config_work(struct work_struct *work)
{
	struct vpower *vp = container_of(work, struct vpower, config_work);
	__le32 hr[2];
	u32 request, seq;

	if (!vpower_has(vp, VIRTIO_POWER_F_HOST_REQUESTS))
		return;
	/*
	 * Both fields under one ConfigGeneration check, each with one 32-bit
	 * access: virtio-mmio devices may refuse narrower ones.
	 */
	__virtio_cread_many(vp->vdev, offsetof(struct virtio_power_config, host_request),
			    hr, ARRAY_SIZE(hr), sizeof(hr[0]));
	request = le32_to_cpu(hr[0]);
	seq = le32_to_cpu(hr[1]);
	if (request == VPOWER_HOST_REQ_NONE || seq == vp->handled_seq)
		return;
	vp->handled_seq = seq;
	switch (request) {
	case VPOWER_HOST_REQ_POWER_OFF:
		vpower_ack(vp, seq, true);
		if (vpower_press_button(vp)) {
			dev_info(&vp->vdev->dev, "host pressed the power button (seq %u)\n", seq);
		} else {
			dev_info(&vp->vdev->dev,
				 "host asks for power-off (seq %u); no button listener, powering off\n",
				 seq);
			orderly_poweroff(false);
		}
		break;
	case VPOWER_HOST_REQ_FORCE_POWER_OFF:
		dev_info(&vp->vdev->dev, "host asks for power-off now (seq %u)\n", seq);
		vpower_ack(vp, seq, true);
		orderly_poweroff(true);
		break;
	case VPOWER_HOST_REQ_REBOOT:
		dev_info(&vp->vdev->dev, "host asks for reboot (seq %u)\n", seq);
		vpower_ack(vp, seq, true);
		orderly_reboot();
		break;
	default:
		dev_warn(&vp->vdev->dev, "unknown host request %u refused\n", request);
		vpower_ack(vp, seq, false);
	}
}

static void vpower_config_changed(struct virtio_device *vdev)
{
	struct vpower *vp = vdev->priv;
	unsigned long flags;

	spin_lock_irqsave(&vp->lock, flags);
	if (vp->ready)
		schedule_work(&vp->config_work);
	spin_unlock_irqrestore(&vp->lock, flags);
}

/* ----------------------------------------------------- sys-off handlers */

static void vpower_command(struct vpower *vp, u32 cmd)
{
	__le32 v = cpu_to_le32(cmd);

	/* A plain register write: valid even though the device was reset. */
	vp->vdev->config->set(vp->vdev, offsetof(struct virtio_power_config, command),
			      &v, sizeof(v));
	mdelay(VPOWER_SYS_OFF_WAIT_MS);
}

static int vpower_power_off(struct sys_off_data *data)
{
	vpower_command(data->cb_data, VPOWER_CMD_POWER_OFF);
	return NOTIFY_DONE;
}

static int vpower_restart(struct sys_off_data *data)
{
	vpower_command(data->cb_data, VPOWER_CMD_REBOOT);
	return NOTIFY_DONE;
}

static struct sys_off_handler *vpower_register_sys_off(struct vpower *vp, enum sys_off_mode mode,
						       int (*cb)(struct sys_off_data *))
{
	struct sys_off_handler *h;

	h = register_sys_off_handler(mode, VPOWER_SYS_OFF_PRIO, cb, vp);
	if (IS_ERR(h) && PTR_ERR(h) == -EBUSY)
		h = register_sys_off_handler(mode, SYS_OFF_PRIO_DEFAULT, cb, vp);
	return h;
}

/* --------------------------------------------------------------- sysfs */

static struct vpower *kobj_to_vpower(struct kobject *kobj)
{
	return dev_to_virtio(kobj_to_dev(kobj))->priv;
}

/* Device strings are untrusted: stop at NUL or the field end, mask what is not printable. */
static void vpower_copy_name(char *dst, const char *src, size_t field)
{
	size_t i;

	for (i = 0; i < field && src[i]; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) || (u8)src[i] >= 0x80 ? src[i] : '?';
	dst[i] = '\0';
}

static const char *const vpower_irqchips[] = {
	"unknown", "riscv-plic", "riscv-aplic", "x86-ioapic", "arm-gic",
};

static const char *const vpower_timers[] = {
	"unknown", "riscv-aclint-mtimer", "riscv-sbi", "x86-lapic", "arm-generic",
};

static const char *vpower_kind(const char *const *names, size_t n, u16 v)
{
	return v < n ? names[v] : "unknown";
}

enum vpower_field { F_NAME, F_UUID, F_HARTS, F_MEMORY, F_IRQCHIP, F_TIMER, F_SPEC, F_GEN, F_COUNT };

static ssize_t vpower_inv_show(struct device *dev, char *buf, enum vpower_field f)
{
	struct vpower *vp = dev_to_virtio(dev)->priv;
	const struct vpower_inv_header *h;
	char name[sizeof(h->name) + 1];
	ssize_t ret;
	int err;

	mutex_lock(&vp->inv_lock);
	err = vpower_inv_refresh(vp);
	if (err) {
		mutex_unlock(&vp->inv_lock);
		return err;
	}
	h = (const void *)vp->inv;
	switch (f) {
	case F_NAME:
		vpower_copy_name(name, h->name, sizeof(h->name));
		ret = sysfs_emit(buf, "%s\n", name);
		break;
	case F_UUID:
		ret = sysfs_emit(buf, "%pUb\n", h->uuid);
		break;
	case F_HARTS:
		ret = sysfs_emit(buf, "%u\n", le32_to_cpu(h->harts));
		break;
	case F_MEMORY:
		ret = sysfs_emit(buf, "0x%llx 0x%llx\n", le64_to_cpu(h->ram_base),
				 le64_to_cpu(h->ram_size));
		break;
	case F_IRQCHIP:
		ret = sysfs_emit(buf, "%s\n",
				 vpower_kind(vpower_irqchips, ARRAY_SIZE(vpower_irqchips),
					     le16_to_cpu(h->irqchip)));
		break;
	case F_TIMER:
		ret = sysfs_emit(buf, "%s\n",
				 vpower_kind(vpower_timers, ARRAY_SIZE(vpower_timers),
					     le16_to_cpu(h->timer)));
		break;
	case F_SPEC:
		ret = sysfs_emit(buf, "%u.%u\n", le16_to_cpu(h->spec_major),
				 le16_to_cpu(h->spec_minor));
		break;
	case F_GEN:
		ret = sysfs_emit(buf, "%u\n", vp->inv_gen);
		break;
	default:
		ret = sysfs_emit(buf, "%u\n", le32_to_cpu(h->device_count));
	}
	mutex_unlock(&vp->inv_lock);
	return ret;
}

#define VPOWER_INV_ATTR(_name, _field)							\
	static ssize_t _name##_show(struct device *dev, struct device_attribute *attr,	\
				    char *buf)						\
	{										\
		return vpower_inv_show(dev, buf, _field);				\
	}										\
	static DEVICE_ATTR_RO(_name)

VPOWER_INV_ATTR(name, F_NAME);
VPOWER_INV_ATTR(uuid, F_UUID);
VPOWER_INV_ATTR(harts, F_HARTS);
VPOWER_INV_ATTR(memory, F_MEMORY);
VPOWER_INV_ATTR(interrupt_controller, F_IRQCHIP);
VPOWER_INV_ATTR(timer, F_TIMER);
VPOWER_INV_ATTR(spec_version, F_SPEC);
VPOWER_INV_ATTR(generation, F_GEN);
VPOWER_INV_ATTR(device_count, F_COUNT);

static const char *vpower_transport(u16 t)
{
	return t == VPOWER_TRANSPORT_MMIO ? "mmio" : t == VPOWER_TRANSPORT_PCI ? "pci" : "unknown";
}

/* Serves [off, off + count) of `src` (len bytes) into buf. */
static ssize_t vpower_slice(char *buf, loff_t off, size_t count, const void *src, size_t len)
{
	if (off >= len)
		return 0;
	count = min_t(size_t, count, len - off);
	memcpy(buf, (const u8 *)src + off, count);
	return count;
}

static ssize_t raw_read(struct file *filp, struct kobject *kobj, struct bin_attribute *attr,
			char *buf, loff_t off, size_t count)
{
	struct vpower *vp = kobj_to_vpower(kobj);
	ssize_t ret;

	mutex_lock(&vp->inv_lock);
	ret = vpower_inv_refresh(vp);
	if (!ret)
		ret = vpower_slice(buf, off, count, vp->inv, vp->inv_len);
	mutex_unlock(&vp->inv_lock);
	return ret;
}
static BIN_ATTR_RO(raw, 0);

/*
 * One line per device, columns:
 *   index device_id transport base size irq flags name
 * The table can exceed a page, hence a binary attribute read at an offset.
 */
static ssize_t devices_read(struct file *filp, struct kobject *kobj, struct bin_attribute *attr,
			    char *buf, loff_t off, size_t count)
{
	struct vpower *vp = kobj_to_vpower(kobj);
	const struct vpower_inv_header *h;
	const size_t line = 128;
	char *text;
	size_t len = 0;
	ssize_t ret;
	u32 i, n;

	mutex_lock(&vp->inv_lock);
	ret = vpower_inv_refresh(vp);
	if (ret)
		goto out;
	h = (const void *)vp->inv;
	n = le32_to_cpu(h->device_count);
	text = kvmalloc(max_t(size_t, 1, (size_t)n * line), GFP_KERNEL);
	if (!text) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct vpower_inv_entry *e = vpower_inv_entry(vp->inv, i);
		u16 flags = le16_to_cpu(e->flags);
		char name[sizeof(e->name) + 1];

		vpower_copy_name(name, e->name, sizeof(e->name));
		len += scnprintf(text + len, line, "%u %u %s 0x%llx 0x%llx %u %s %s\n", i,
				 le32_to_cpu(e->device_id),
				 vpower_transport(le16_to_cpu(e->transport)),
				 le64_to_cpu(e->base), le64_to_cpu(e->size), le32_to_cpu(e->irq),
				 (flags & VPOWER_INV_FLAG_SELF) ? "self" :
				 (flags & VPOWER_INV_FLAG_HOTPLUGGED) ? "hotplugged" : "-",
				 name[0] ? name : "-");
	}
	ret = vpower_slice(buf, off, count, text, len);
	kvfree(text);
out:
	mutex_unlock(&vp->inv_lock);
	return ret;
}
static BIN_ATTR_RO(devices, 0);

static struct attribute *vpower_inv_attrs[] = {
	&dev_attr_name.attr,
	&dev_attr_uuid.attr,
	&dev_attr_harts.attr,
	&dev_attr_memory.attr,
	&dev_attr_interrupt_controller.attr,
	&dev_attr_timer.attr,
	&dev_attr_spec_version.attr,
	&dev_attr_generation.attr,
	&dev_attr_device_count.attr,
	NULL,
};

static struct bin_attribute *vpower_inv_bin_attrs[] = {
	&bin_attr_raw,
	&bin_attr_devices,
	NULL,
};

/* The inventory/ directory exists only when VIRTIO_POWER_F_INVENTORY was negotiated. */
static bool vpower_inv_group_visible(struct kobject *kobj)
{
	return vpower_has(kobj_to_vpower(kobj), VIRTIO_POWER_F_INVENTORY);
}

DEFINE_SIMPLE_SYSFS_GROUP_VISIBLE(vpower_inv);

static const struct attribute_group vpower_inv_group = {
	.name = "inventory",
	.is_visible = SYSFS_GROUP_VISIBLE(vpower_inv),
	.attrs = vpower_inv_attrs,
	.bin_attrs = vpower_inv_bin_attrs,
};

/* Devices this driver registered: "base size hwirq virq platform-device". */
static ssize_t hotplugged_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct vpower *vp = dev_to_virtio(dev)->priv;
	struct vpower_hp *hp;
	int len = 0;

	mutex_lock(&vp->hp_lock);
	list_for_each_entry(hp, &vp->hotplugged, node)
		len += sysfs_emit_at(buf, len, "0x%llx 0x%llx %u %u %s\n", hp->base, hp->size,
				     hp->hwirq, hp->virq, dev_name(&hp->pdev->dev));
	mutex_unlock(&vp->hp_lock);
	return len;
}
static DEVICE_ATTR_RO(hotplugged);

static struct attribute *vpower_attrs[] = {
	&dev_attr_hotplugged.attr,
	NULL,
};

static const struct attribute_group vpower_group = {
	.attrs = vpower_attrs,
};

/* Created by the driver core after probe, removed before remove: no window without priv. */
static const struct attribute_group *vpower_groups[] = {
	&vpower_group,
	&vpower_inv_group,
	NULL,
};

/* ------------------------------------------------------ probe / remove */

static struct device_node *vpower_find_intc(struct virtio_device *vdev)
{
	struct device *parent = vdev->dev.parent;

	/*
	 * Our own interrupt parent is the controller the host wires hotplugged
	 * devices to. Without a devicetree node (virtio-pci) there is none, and
	 * virtio-mmio hotplug is refused.
	 */
	if (parent && parent->of_node)
		return of_irq_find_parent(parent->of_node);
	return NULL;
}

static int vpower_init_vqs(struct vpower *vp)
{
	struct virtqueue *vqs[2];
	struct virtqueue_info info[2] = {
		{ "requestq", vpower_req_done },
		{ "eventq", vpower_event_cb },
	};
	int err, i;

	err = virtio_find_vqs(vp->vdev, 2, vqs, info, NULL);
	if (err)
		return err;
	vp->reqq = vqs[0];
	vp->evq = vqs[1];
	for (i = 0; i < VPOWER_EVBUFS; i++) {
		err = vpower_post_event_buf(vp, &vp->evbufs[i]);
		if (err) {
			vp->vdev->config->del_vqs(vp->vdev);
			return err;
		}
	}
	return 0;
}

/*
 * The device is live: let callbacks schedule work, and catch up on what came
 * while they could not (events used, host requests, hotplug before we loaded).
 * Nothing here waits for the device, so probe returns at once.
 */
static void vpower_start(struct vpower *vp)
{
	unsigned long flags;

	mutex_lock(&vp->req_lock);
	vp->req_broken = false;
	mutex_unlock(&vp->req_lock);
	virtio_device_ready(vp->vdev);
	virtqueue_kick(vp->evq);
	spin_lock_irqsave(&vp->lock, flags);
	vp->ready = true;
	spin_unlock_irqrestore(&vp->lock, flags);
	WRITE_ONCE(vp->resync, true);
	schedule_work(&vp->event_work);
	schedule_work(&vp->config_work);
}

/*
 * Stop the work items, wait for a request in flight (a sysfs reader), then
 * the device; afterwards it owns none of our buffers and requests fail fast
 * until vpower_start().
 */
static void vpower_stop(struct vpower *vp)
{
	unsigned long flags;

	spin_lock_irqsave(&vp->lock, flags);
	vp->ready = false;
	spin_unlock_irqrestore(&vp->lock, flags);
	cancel_work_sync(&vp->config_work);
	cancel_work_sync(&vp->event_work);
	mutex_lock(&vp->req_lock);
	virtio_reset_device(vp->vdev);
	vp->vdev->config->del_vqs(vp->vdev);
	vp->req_broken = true;
	mutex_unlock(&vp->req_lock);
}

static void vpower_remove_hotplugged(struct vpower *vp)
{
	struct vpower_hp *hp, *tmp;

	mutex_lock(&vp->hp_lock);
	list_for_each_entry_safe(hp, tmp, &vp->hotplugged, node)
		vpower_hp_del(vp, hp);
	mutex_unlock(&vp->hp_lock);
}

static int vpower_add_button(struct vpower *vp)
{
	struct input_dev *b = input_allocate_device();
	int err;

	if (!b)
		return -ENOMEM;
	b->name = "Power Button";
	b->phys = "virtio-power/button0";
	b->id.bustype = BUS_VIRTUAL;
	b->dev.parent = &vp->vdev->dev;
	input_set_capability(b, EV_KEY, KEY_POWER);
	err = input_register_device(b);
	if (err) {
		input_free_device(b);
		return err;
	}
	vp->button = b;
	return 0;
}

static void vpower_free(struct vpower *vp)
{
	kvfree(vp->inv);
	kfree(vp->evbufs);
	kfree(vp->page);
	kfree(vp->resp);
	kfree(vp->req);
	of_node_put(vp->intc);
	kfree(vp);
}

static int vpower_probe(struct virtio_device *vdev)
{
	struct vpower *vp;
	int err;

	if (!virtio_has_feature(vdev, VIRTIO_F_VERSION_1))
		return -ENODEV;
	vp = kzalloc(sizeof(*vp), GFP_KERNEL);
	if (!vp)
		return -ENOMEM;
	vdev->priv = vp;
	vp->vdev = vdev;
	spin_lock_init(&vp->lock);
	mutex_init(&vp->req_lock);
	mutex_init(&vp->inv_lock);
	mutex_init(&vp->hp_lock);
	init_completion(&vp->req_done);
	INIT_LIST_HEAD(&vp->hotplugged);
	INIT_WORK(&vp->event_work, vpower_event_work);
	INIT_WORK(&vp->config_work, vpower_config_work);
	vp->req = kzalloc(sizeof(*vp->req), GFP_KERNEL);
	vp->resp = kzalloc(sizeof(*vp->resp), GFP_KERNEL);
	vp->page = kzalloc(PAGE_SIZE, GFP_KERNEL);
	vp->evbufs = kcalloc(VPOWER_EVBUFS, sizeof(*vp->evbufs), GFP_KERNEL);
	if (!vp->req || !vp->resp || !vp->page || !vp->evbufs) {
		err = -ENOMEM;
		goto err_free;
	}
	vp->intc = vpower_find_intc(vdev);

	err = vpower_init_vqs(vp);
	if (err)
		goto err_free;
	/* Without the button a POWER_OFF request falls back to orderly_poweroff(). */
	err = vpower_add_button(vp);
	if (err)
		dev_warn(&vdev->dev, "no power button input device: %d\n", err);

	vp->poweroff_h = vpower_register_sys_off(vp, SYS_OFF_MODE_POWER_OFF, vpower_power_off);
	vp->restart_h = vpower_register_sys_off(vp, SYS_OFF_MODE_RESTART, vpower_restart);
	if (IS_ERR(vp->poweroff_h) || IS_ERR(vp->restart_h))
		dev_warn(&vdev->dev, "sys-off handlers not all registered (%d, %d)\n",
			 PTR_ERR_OR_ZERO(vp->poweroff_h), PTR_ERR_OR_ZERO(vp->restart_h));

	vpower_start(vp);
	dev_info(&vdev->dev, "virtio-power ready (inventory %s, host requests %s, hotplug %s)\n",
		 vpower_has(vp, VIRTIO_POWER_F_INVENTORY) ? "yes" : "no",
		 vpower_has(vp, VIRTIO_POWER_F_HOST_REQUESTS) ? "yes" : "no",
		 vpower_has(vp, VIRTIO_POWER_F_HOTPLUG) ? "yes" : "no");
	return 0;

err_free:
	vpower_free(vp);
	return err;
}

static void vpower_remove(struct virtio_device *vdev)
{
	struct vpower *vp = vdev->priv;

	if (!IS_ERR_OR_NULL(vp->poweroff_h))
		unregister_sys_off_handler(vp->poweroff_h);
	if (!IS_ERR_OR_NULL(vp->restart_h))
		unregister_sys_off_handler(vp->restart_h);
	vpower_stop(vp);
	if (vp->button)
		input_unregister_device(vp->button);
	vpower_remove_hotplugged(vp);
	vpower_free(vp);
}

/*
 * Suspend and hibernation reset the device behind our back; keep no request
 * or event buffer across it. Hotplugged devices stay registered: restore
 * reconciles them with the inventory, which is the authority.
 */
static int vpower_freeze(struct virtio_device *vdev)
{
	struct vpower *vp = vdev->priv;

	vpower_stop(vp);
	mutex_lock(&vp->inv_lock);
	kvfree(vp->inv);
	vp->inv = NULL;
	mutex_unlock(&vp->inv_lock);
	return 0;
}

static int vpower_restore(struct virtio_device *vdev)
{
	struct vpower *vp = vdev->priv;
	int err;

	err = vpower_init_vqs(vp);
	if (err)
		return err;
	/* A request made while we slept is new to us; one we handled keeps its seq. */
	vpower_start(vp);
	return 0;
}

static const unsigned int vpower_features[] = {
	VIRTIO_POWER_F_INVENTORY,
	VIRTIO_POWER_F_HOST_REQUESTS,
	VIRTIO_POWER_F_HOTPLUG,
};

static const struct virtio_device_id vpower_id_table[] = {
	{ VIRTIO_ID_POWER, VIRTIO_DEV_ANY_ID },
	{ 0 },
};
MODULE_DEVICE_TABLE(virtio, vpower_id_table);

static struct virtio_driver vpower_driver = {
	.driver.name = KBUILD_MODNAME,
	.driver.dev_groups = vpower_groups,
	.feature_table = vpower_features,
	.feature_table_size = ARRAY_SIZE(vpower_features),
	.id_table = vpower_id_table,
	.probe = vpower_probe,
	.remove = vpower_remove,
	.config_changed = vpower_config_changed,
	.freeze = pm_sleep_ptr(vpower_freeze),
	.restore = pm_sleep_ptr(vpower_restore),
};
module_virtio_driver(vpower_driver);

MODULE_DESCRIPTION("virtio-power: power-off, reboot, inventory and hotplug for virtio-desktop");
MODULE_LICENSE("GPL");
