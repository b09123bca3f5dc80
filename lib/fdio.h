/* Whole-buffer reads and writes on a descriptor (files, pipes, sockets). */
#ifndef BD_FDIO_H
#define BD_FDIO_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Write all len bytes of buf to fd, retrying short writes and EINTR.
 * Returns 0, or -1 with errno set (EIO when write(2) made no progress
 * without saying why). buf is borrowed. Bytes already written stay written.
 */
int write_all(int fd, const void *buf, size_t len);

/*
 * Read from fd into buf until len bytes or end of file, retrying short
 * reads and EINTR. Returns how many bytes were read (less than len only at
 * end of file), or -1 with errno set. buf is borrowed.
 */
ssize_t read_all(int fd, void *buf, size_t len);

#endif
