/* keyfile.c - read and write CURVE key files (see keyfile.h). */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "buf.h"
#include "keyfile.h"

int
keyfile_z85_valid(const char *s)
{
	uint8_t	raw[32];

	if (s == NULL || strlen(s) != KEY_Z85_LEN)
		return 0;
	return zmq_z85_decode(raw, s) != NULL;
}

static int
keyfile_load(const char *path, char *pub, char *sec, int check_mode,
    char *err, size_t errlen)
{
	config_t	 cf;
	const char	*p = NULL, *s = NULL;
	struct stat	 st;
	int		 rc = -1;

	config_init(&cf);
	if (check_mode && sec != NULL && stat(path, &st) == 0 &&
	    (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "key file \"%s\": holds a secret key but "
		    "is readable by group or others; chmod 600 it", path);
		goto out;
	}
	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "key file \"%s\": %s", path,
			    strerror(errno ? errno : ENOENT));
		else
			snprintf(err, errlen, "key file \"%s\" line %d: %s",
			    path, config_error_line(&cf),
			    config_error_text(&cf));
		goto out;
	}
	if (config_lookup_string(&cf, "public", &p) != CONFIG_TRUE ||
	    !keyfile_z85_valid(p)) {
		snprintf(err, errlen, "key file \"%s\": public: missing or "
		    "not a 40-character Z85 key", path);
		goto out;
	}
	if (sec != NULL && (config_lookup_string(&cf, "secret", &s) !=
	    CONFIG_TRUE || !keyfile_z85_valid(s))) {
		snprintf(err, errlen, "key file \"%s\": secret: missing or "
		    "not a 40-character Z85 key", path);
		goto out;
	}
	memcpy(pub, p, KEY_Z85_LEN + 1);
	if (sec != NULL)
		memcpy(sec, s, KEY_Z85_LEN + 1);
	rc = 0;
out:
	config_destroy(&cf);
	return rc;
}

int
keyfile_read(const char *path, char *pub, char *sec, char *err,
    size_t errlen)
{
	return keyfile_load(path, pub, sec, 1, err, errlen);
}

int
keyfile_read_credential(const char *path, char *pub, char *sec, char *err,
    size_t errlen)
{
	return keyfile_load(path, pub, sec, 0, err, errlen);
}

int
keyfile_write(const char *path, const char *pub, const char *sec, int force,
    char *err, size_t errlen)
{
	struct buf	 b, tmp;
	int		 fd = -1, rc = -1;
	mode_t		 mode = sec ? 0600 : 0644;

	buf_init(&b, 4096);
	buf_init(&tmp, 4096);
	if (!force && access(path, F_OK) == 0) {
		snprintf(err, errlen, "key file \"%s\" exists; remove it or "
		    "use --force", path);
		goto out;
	}
	buf_printf(&b, "# CURVE key pair for outreachd (Z85).%s\n"
	    "public = \"%s\";\n", sec ? " Keep this file secret." : "", pub);
	if (sec)
		buf_printf(&b, "secret = \"%s\";\n", sec);
	if (buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid()) == -1 ||
	    b.overflow) {
		snprintf(err, errlen, "key file \"%s\": out of memory", path);
		goto out;
	}
	if ((fd = open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    mode)) == -1 || fchmod(fd, mode) == -1 ||
	    write(fd, b.data, b.len) != (ssize_t)b.len || fsync(fd) == -1 ||
	    close(fd) == -1) {
		snprintf(err, errlen, "key file \"%s\": %s", tmp.data,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		unlink(tmp.data);
		goto out;
	}
	if (rename(tmp.data, path) == -1) {
		snprintf(err, errlen, "key file \"%s\": %s", path,
		    strerror(errno));
		unlink(tmp.data);
		goto out;
	}
	rc = 0;
out:
	buf_free(&b);
	buf_free(&tmp);
	return rc;
}
