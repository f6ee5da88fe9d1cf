/*
 * blkops: issue one block-layer request that busybox has no applet for, so that tests can check it
 * reaches the virtio-blk backend.
 *
 *   blkops discard|zeroout DEVICE OFFSET LENGTH
 *
 * BLKDISCARD becomes VIRTIO_BLK_T_DISCARD and BLKZEROOUT becomes VIRTIO_BLK_T_WRITE_ZEROES when the
 * device offers those features. Prints "BLKOPS-OK <op>" or "BLKOPS-ERROR <op> <errno text>".
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 5 || (strcmp(argv[1], "discard") && strcmp(argv[1], "zeroout"))) {
		fprintf(stderr, "usage: blkops discard|zeroout DEVICE OFFSET LENGTH\n");
		return 2;
	}
	int fd = open(argv[2], O_RDWR);
	if (fd < 0) {
		printf("BLKOPS-ERROR open %s\n", strerror(errno));
		return 1;
	}
	uint64_t range[2] = {strtoull(argv[3], 0, 0), strtoull(argv[4], 0, 0)};
	unsigned long req = argv[1][0] == 'd' ? BLKDISCARD : BLKZEROOUT;
	if (ioctl(fd, req, range)) {
		printf("BLKOPS-ERROR %s %s\n", argv[1], strerror(errno));
		return 1;
	}
	fsync(fd);
	printf("BLKOPS-OK %s\n", argv[1]);
	return 0;
}
