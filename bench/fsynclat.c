/* fsynclat.c - latency of a durable small write on the file system of a
 * directory (make bench): 4 KiB appended then fdatasync, the same with
 * fsync, and 4 KiB overwritten in place then fdatasync (what SQLite's WAL
 * does once it has wrapped).  The scratch file is created in DIR and
 * removed; one key=value line per mode on stdout, in microseconds. */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FSL_BLOCK	4096

enum fsl_mode { FSL_APPEND_DATASYNC, FSL_APPEND_FSYNC, FSL_OVERWRITE_DATASYNC };

static const char *const fsl_names[] = {
	"append_fdatasync", "append_fsync", "overwrite_fdatasync"
};

static int64_t
fsl_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int
fsl_cmp(const void *a, const void *b)
{
	int64_t	x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int64_t
fsl_pct(const int64_t *v, size_t n, double pct)
{
	size_t	k = (size_t)(pct / 100.0 * (double)n + 0.999999);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

/* Time n durable writes of one mode into fd (truncated first).  Fills
 * lat[] (nanoseconds).  Returns 0, or -1 with errno. */
static int
fsl_run(int fd, enum fsl_mode mode, const char *block, int64_t *lat,
    size_t n)
{
	size_t	i;
	off_t	off;
	int64_t	t;

	if (ftruncate(fd, 0) == -1 || fsync(fd) == -1)
		return -1;
	if (mode == FSL_OVERWRITE_DATASYNC) {
		/* A preallocated, synced region written over in a ring. */
		for (i = 0; i < 64; i++)
			if (pwrite(fd, block, FSL_BLOCK,
			    (off_t)(i * FSL_BLOCK)) != FSL_BLOCK)
				return -1;
		if (fsync(fd) == -1)
			return -1;
	}
	for (i = 0; i < n; i++) {
		off = mode == FSL_OVERWRITE_DATASYNC ?
		    (off_t)((i % 64) * FSL_BLOCK) : (off_t)(i * FSL_BLOCK);
		t = fsl_now_ns();
		if (pwrite(fd, block, FSL_BLOCK, off) != FSL_BLOCK)
			return -1;
		if ((mode == FSL_APPEND_FSYNC ? fsync(fd) : fdatasync(fd)) ==
		    -1)
			return -1;
		lat[i] = fsl_now_ns() - t;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	char		 path[4096], block[FSL_BLOCK];
	int64_t		*lat = NULL;
	size_t		 n = 1000, i;
	long		 v;
	char		*end;
	int		 fd = -1, rc = 1, m;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: fsynclat DIR [ITERATIONS]\n");
		return 2;
	}
	if (argc == 3) {
		errno = 0;
		v = strtol(argv[2], &end, 10);
		if (errno != 0 || *end != '\0' || v < 10 || v > 1000000) {
			fprintf(stderr, "fsynclat: iterations \"%s\": expected "
			    "10..1000000\n", argv[2]);
			return 2;
		}
		n = (size_t)v;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/fsynclat.XXXXXX",
	    argv[1]) >= sizeof(path)) {
		fprintf(stderr, "fsynclat: directory name too long\n");
		return 2;
	}
	if ((fd = mkstemp(path)) == -1) {
		fprintf(stderr, "fsynclat: create a file in \"%s\": %s\n",
		    argv[1], strerror(errno));
		return 1;
	}
	if ((lat = calloc(n, sizeof(*lat))) == NULL) {
		fprintf(stderr, "fsynclat: out of memory\n");
		goto out;
	}
	for (i = 0; i < sizeof(block); i++)
		block[i] = (char)('a' + i % 26);
	for (m = FSL_APPEND_DATASYNC; m <= FSL_OVERWRITE_DATASYNC; m++) {
		if (fsl_run(fd, (enum fsl_mode)m, block, lat, n) == -1) {
			fprintf(stderr, "fsynclat: %s on \"%s\": %s\n",
			    fsl_names[m], path, strerror(errno));
			goto out;
		}
		qsort(lat, n, sizeof(*lat), fsl_cmp);
		printf("mode=%s n=%zu p50_us=%.0f p99_us=%.0f max_us=%.0f\n",
		    fsl_names[m], n, (double)fsl_pct(lat, n, 50) / 1e3,
		    (double)fsl_pct(lat, n, 99) / 1e3,
		    (double)lat[n - 1] / 1e3);
	}
	rc = 0;
out:
	free(lat);
	close(fd);
	unlink(path);
	return rc;
}
