/* SPDX-License-Identifier: MIT */
#include "daemon.h"

unsigned daemon_cfg_word(struct daemon *d, const unsigned *field)
{
	unsigned v;

	pthread_rwlock_rdlock(&d->conf.lock);
	v = *field;
	pthread_rwlock_unlock(&d->conf.lock);
	return v;
}

void daemon_cfg_read(struct daemon *d)
{
	pthread_rwlock_rdlock(&d->conf.lock);
}

void daemon_cfg_done(struct daemon *d)
{
	pthread_rwlock_unlock(&d->conf.lock);
}
