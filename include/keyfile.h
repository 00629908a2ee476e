/* keyfile.h - CURVE key files, shared by the daemon and outreachctl.
 * A key file is libconfig text with public = "Z85" and, in the secret
 * file only, secret = "Z85" (40 characters each; Z85 of 32 bytes). */
#ifndef OUTREACH_KEYFILE_H
#define OUTREACH_KEYFILE_H

#include <stddef.h>

#define KEY_Z85_LEN	40

/* 1 when s is 40 characters of Z85 that decode to a 32-byte key. */
int	keyfile_z85_valid(const char *s);

/* Read path: public into pub (41 bytes), and secret into sec (41 bytes)
 * when sec is not NULL, in which case the file must hold one.  A secret
 * file readable by group or others is refused.  Returns 0, or -1 with a
 * sentence naming the file in err. */
int	keyfile_read(const char *path, char *pub, char *sec, char *err,
	    size_t errlen);

/* The same for a systemd credential ($CREDENTIALS_DIRECTORY): systemd owns
 * its mode (newer versions show 0440 through an ACL), so it is not
 * checked. */
int	keyfile_read_credential(const char *path, char *pub, char *sec,
	    char *err, size_t errlen);

/* Write a key file atomically (temporary file, fsync, rename): mode 0600
 * when sec is given, 0644 otherwise.  Refuses to replace an existing file
 * unless force.  Returns 0, or -1 with a sentence in err. */
int	keyfile_write(const char *path, const char *pub, const char *sec,
	    int force, char *err, size_t errlen);

#endif
