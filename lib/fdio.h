/* Whole-buffer writes to a descriptor (files, pipes, sockets). */
#ifndef BD_FDIO_H
#define BD_FDIO_H

#include <stddef.h>

/*
 * Write all len bytes of buf to fd, retrying short writes and EINTR.
 * Returns 0, or -1 with errno set (EIO when write(2) made no progress
 * without saying why). buf is borrowed. Bytes already written stay written.
 */
int write_all(int fd, const void *buf, size_t len);

#endif
