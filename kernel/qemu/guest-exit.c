// SPDX-License-Identifier: MIT
/*
 * guest-exit CODE: end the QEMU guest with a verdict.
 *
 * QEMU's isa-debug-exit device (iobase 0xf4) exits QEMU with status
 * (CODE << 1) | 1 when CODE is written to its port, which is how the guest's
 * verdict reaches the host's `make check-kernel`.  Built static: it must run
 * even when the guest's libraries are the thing that is broken.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>
#include <sys/reboot.h>
#include <unistd.h>

#define DEBUG_EXIT_PORT 0xf4

int main(int argc, char **argv)
{
	int code = argc > 1 ? atoi(argv[1]) : 1;

	fflush(NULL);
	sync();
	if (ioperm(DEBUG_EXIT_PORT, 1, 1) == 0)
		outb((unsigned char)code, DEBUG_EXIT_PORT);
	else
		perror("guest-exit: ioperm (needs CONFIG_X86_IOPL_IOPERM)");
	/* No isa-debug-exit device: power off, the host reads the log. */
	reboot(RB_POWER_OFF);
	return 1;
}
