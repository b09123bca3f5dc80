/*
 * The pure parts of the SMB probe (probe_smb.c), for its unit tests.
 */
#ifndef BD_PROBE_SMB_H
#define BD_PROBE_SMB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/statvfs.h>

enum smb_path_rc { SMB_PATH_OK, SMB_PATH_DOTDOT, SMB_PATH_LONG };

/*
 * The share-relative `path` (NULL = the share's root): split on '/' and
 * '\', empty and "." segments dropped, ".." refused (SMB_PATH_DOTDOT: it
 * would leave the share). display receives "/a/b" ("/" for the root), esc
 * the same with each segment percent-encoded for an smb:// URL ("" for the
 * root). SMB_PATH_LONG when a buffer is too small.
 */
enum smb_path_rc smb_path_split(const char *path, char *display, size_t dlen,
    char *esc, size_t elen);

/* Whether share is a plausible share name: 1..80 characters, none of
 * "/\[]:|<>+=;,*? and no control character. */
bool smb_share_ok(const char *share);

/*
 * The share's space from libsmbclient's statvfs (SMBC_fstatvfs_ctx, SMB2
 * FileFsFullSizeInformation, MS-FSCC 2.5.4): f_bsize = bytes per sector,
 * f_frsize = sectors per allocation unit, f_blocks = total units, f_bfree
 * = actual free units, f_bavail = units free to this user (quotas). total
 * = f_blocks, used = f_blocks - f_bfree, free = f_bavail, in bytes. False
 * when nothing usable came back: a server that refuses the query leaves
 * the structure zeroed (the library still returns 0), and counts that are
 * inconsistent or whose byte value would overflow are not believed.
 */
bool smb_space(const struct statvfs *v, int64_t *total, int64_t *used,
    int64_t *avail);

#endif
