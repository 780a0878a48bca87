#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"

/* Longer than any record: 16 subnets, four endpoints and two keys come to
 * about 1,200 characters. */
#define STATE_LINE_MAX 4096

/* Peer files of more lines are rejected, which bounds the memory a corrupt
 * or hostile file can take. */
#define PEER_RECORDS_MAX 100000

static const char *const nat_type_names[] = {
	[NAT_UNKNOWN] = "unknown",
	[NAT_NONE] = "none",
	[NAT_INDEPENDENT] = "endpoint-independent",
	[NAT_DEPENDENT] = "endpoint-dependent",
};

const char *nat_type_name(enum nat_type type)
{
	size_t count = sizeof(nat_type_names) / sizeof(nat_type_names[0]);

	if ((unsigned)type >= count)
		return "unknown";
	return nat_type_names[type];
}

int nat_type_parse(enum nat_type *type, const char *s, struct avpn_error *err)
{
	size_t i;

	for (i = 0; i < sizeof(nat_type_names) / sizeof(nat_type_names[0]);
	     i++) {
		if (strcmp(s, nat_type_names[i]) == 0) {
			*type = (enum nat_type)i;
			return 0;
		}
	}
	return error_set(err, "invalid NAT type \"%.32s\": expected unknown, "
			 "none, endpoint-independent or endpoint-dependent",
			 s);
}

const char *node_role_name(enum node_role role)
{
	switch (role) {
	case ROLE_HUB:
		return "hub";
	case ROLE_SPOKE:
		return "spoke";
	}
	return "unknown";
}

int node_role_parse(enum node_role *role, const char *s,
		    struct avpn_error *err)
{
	if (strcmp(s, "hub") == 0)
		*role = ROLE_HUB;
	else if (strcmp(s, "spoke") == 0)
		*role = ROLE_SPOKE;
	else
		return error_set(err, "invalid role \"%.32s\": expected hub or "
				 "spoke", s);
	return 0;
}

static const char name_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

int name_check(const char *name, struct avpn_error *err)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > AVPN_NAME_MAX)
		return error_set(err, "invalid name \"%.40s\": expected 1 to "
				 "%d characters", name, AVPN_NAME_MAX);
	for (i = 0; i < len; i++) {
		if (strchr(name_alphabet, name[i]) == NULL)
			return error_set(err, "invalid name \"%.40s\": only "
					 "letters, digits, '.', '_' and '-' "
					 "are allowed", name);
	}
	return 0;
}

int fields_split(char *line, char **fields, int max)
{
	int count = 0;
	char *p = line, *tab;

	for (;;) {
		if (count == max)
			return -1;
		fields[count++] = p;
		tab = strchr(p, '\t');
		if (tab == NULL)
			return count;
		*tab = '\0';
		p = tab + 1;
	}
}

/* Parses a Unix time in seconds: decimal digits only, no sign. */
static int time_parse(int64_t *t, const char *s, struct avpn_error *err)
{
	const char *errstr;
	long long n;
	size_t i;

	if (s[0] == '\0')
		return error_set(err, "empty time, expected Unix seconds");
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return error_set(err, "invalid time \"%.24s\": "
					 "expected Unix seconds", s);
	}
	n = strtonum(s, 0, LLONG_MAX, &errstr);
	if (errstr != NULL)
		return error_set(err, "invalid time \"%.24s\": %s", s, errstr);
	*t = n;
	return 0;
}

/* Parses an endpoint field, where "-" is an unset endpoint. */
static int field_endpoint(union endpoint *ep, const char *s,
			  struct avpn_error *err)
{
	memset(ep, 0, sizeof(*ep));
	if (strcmp(s, "-") == 0)
		return 0;
	return endpoint_parse(ep, s, 0, err);
}

static int field_key(uint8_t key[AVPN_KEY_LEN], const char *s,
		     struct avpn_error *err)
{
	return key_from_base64(key, s, strlen(s), err);
}

static int field_subnets(struct subnet_list *list, const char *s,
			 struct avpn_error *err)
{
	memset(list, 0, sizeof(*list));
	if (s[0] == '\0')
		return error_set(err, "empty subnet list, write - for none");
	return subnet_list_parse(list, s, err);
}

static int field_name(char name[AVPN_NAME_MAX + 1], const char *s,
		      struct avpn_error *err)
{
	if (name_check(s, err) == -1)
		return -1;
	memcpy(name, s, strlen(s) + 1);
	return 0;
}

/*
 * Copies line into buf and splits it into exactly want fields.  kind names
 * the record for the error message.
 */
static int record_split(char *buf, size_t size, const char *line,
			char **fields, int want, const char *kind,
			struct avpn_error *err)
{
	int n;

	if (strlen(line) >= size)
		return error_set(err, "%s record longer than %zu characters",
				 kind, size - 1);
	memcpy(buf, line, strlen(line) + 1);
	n = fields_split(buf, fields, want);
	if (n == -1)
		return error_set(err, "%s record has more than %d fields "
				 "(fields are separated by tabs)", kind, want);
	if (n != want)
		return error_set(err, "%s record has %d fields, expected %d "
				 "separated by tabs", kind, n, want);
	return 0;
}

/* Prefixes err with the field's number and name. */
static int field_error(struct avpn_error *err, int index, const char *field)
{
	struct avpn_error copy;

	if (err == NULL)
		return -1;
	copy = *err;
	return error_set(err, "field %d (%s): %s", index + 1, field, copy.text);
}

int self_record_parse(struct self_record *rec, const char *line,
		      struct avpn_error *err)
{
	char buf[STATE_LINE_MAX], *f[SELF_FIELDS];
	struct self_record tmp;

	memset(&tmp, 0, sizeof(tmp));
	if (record_split(buf, sizeof(buf), line, f, SELF_FIELDS, "self",
			 err) == -1)
		return -1;
	if (field_name(tmp.name, f[0], err) == -1)
		return field_error(err, 0, "name");
	if (field_key(tmp.public_key, f[1], err) == -1)
		return field_error(err, 1, "public key");
	if (field_endpoint(&tmp.local, f[2], err) == -1)
		return field_error(err, 2, "local endpoint");
	if (field_endpoint(&tmp.observed, f[3], err) == -1)
		return field_error(err, 3, "public endpoint");
	if (nat_type_parse(&tmp.nat, f[4], err) == -1)
		return field_error(err, 4, "NAT type");
	if (field_endpoint(&tmp.registry, f[5], err) == -1)
		return field_error(err, 5, "registry endpoint");
	if (field_key(tmp.registry_key, f[6], err) == -1)
		return field_error(err, 6, "registry public key");
	if (field_subnets(&tmp.subnets, f[7], err) == -1)
		return field_error(err, 7, "subnets");
	if (field_endpoint(&tmp.override, f[8], err) == -1)
		return field_error(err, 8, "override endpoint");
	if (time_parse(&tmp.registered_at, f[9], err) == -1)
		return field_error(err, 9, "registered at");
	*rec = tmp;
	return 0;
}

int self_record_format(char *out, size_t size, const struct self_record *rec)
{
	char key[AVPN_KEY_BASE64_LEN + 1], reg_key[AVPN_KEY_BASE64_LEN + 1];
	char local[ENDPOINT_STRLEN], observed[ENDPOINT_STRLEN];
	char registry[ENDPOINT_STRLEN], override[ENDPOINT_STRLEN];
	char subnets[AVPN_MAX_SUBNETS * (SUBNET_STRLEN + 1)];

	key_to_base64(key, rec->public_key);
	key_to_base64(reg_key, rec->registry_key);
	endpoint_format(local, &rec->local);
	endpoint_format(observed, &rec->observed);
	endpoint_format(registry, &rec->registry);
	endpoint_format(override, &rec->override);
	subnet_list_format(subnets, sizeof(subnets), &rec->subnets);
	return snprintf(out, size, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%lld\n",
			rec->name, key, local, observed,
			nat_type_name(rec->nat), registry, reg_key, subnets,
			override, (long long)rec->registered_at);
}

int peer_record_parse(struct peer_record *rec, const char *line,
		      struct avpn_error *err)
{
	char buf[STATE_LINE_MAX], *f[PEER_FIELDS];
	struct peer_record tmp;

	memset(&tmp, 0, sizeof(tmp));
	if (record_split(buf, sizeof(buf), line, f, PEER_FIELDS, "peer",
			 err) == -1)
		return -1;
	if (field_name(tmp.name, f[0], err) == -1)
		return field_error(err, 0, "name");
	if (field_key(tmp.public_key, f[1], err) == -1)
		return field_error(err, 1, "public key");
	if (node_role_parse(&tmp.role, f[2], err) == -1)
		return field_error(err, 2, "role");
	if (field_endpoint(&tmp.public_ep, f[3], err) == -1)
		return field_error(err, 3, "public endpoint");
	if (field_endpoint(&tmp.private_ep, f[4], err) == -1)
		return field_error(err, 4, "private endpoint");
	if (field_subnets(&tmp.subnets, f[5], err) == -1)
		return field_error(err, 5, "subnets");
	if (time_parse(&tmp.last_seen, f[6], err) == -1)
		return field_error(err, 6, "last seen");
	if (field_endpoint(&tmp.override, f[7], err) == -1)
		return field_error(err, 7, "override endpoint");
	if (nat_type_parse(&tmp.nat, f[8], err) == -1)
		return field_error(err, 8, "NAT type");
	*rec = tmp;
	return 0;
}

int peer_record_format(char *out, size_t size, const struct peer_record *rec)
{
	char key[AVPN_KEY_BASE64_LEN + 1];
	char public_ep[ENDPOINT_STRLEN], private_ep[ENDPOINT_STRLEN];
	char override[ENDPOINT_STRLEN];
	char subnets[AVPN_MAX_SUBNETS * (SUBNET_STRLEN + 1)];

	key_to_base64(key, rec->public_key);
	endpoint_format(public_ep, &rec->public_ep);
	endpoint_format(private_ep, &rec->private_ep);
	endpoint_format(override, &rec->override);
	subnet_list_format(subnets, sizeof(subnets), &rec->subnets);
	return snprintf(out, size,
			"%s\t%s\t%s\t%s\t%s\t%s\t%lld\t%s\t%s\n",
			rec->name, key, node_role_name(rec->role), public_ep,
			private_ep, subnets, (long long)rec->last_seen,
			override, nat_type_name(rec->nat));
}

/*
 * A state file being read line by line: '#' lines and blank lines are
 * skipped, and the line number is kept for error messages.
 */
struct state_reader {
	FILE *fp;
	const char *name;
	char *line;
	size_t size;
	unsigned long lineno;
};

static int state_reader_open(struct state_reader *r, const char *path,
			     struct avpn_error *err)
{
	memset(r, 0, sizeof(*r));
	if (strcmp(path, "-") == 0) {
		r->fp = stdin;
		r->name = "stdin";
		return 0;
	}
	r->fp = fopen(path, "re");
	if (r->fp == NULL)
		return error_set(err, "%s: %s", path, strerror(errno));
	r->name = path;
	return 0;
}

static void state_reader_close(struct state_reader *r)
{
	if (r->fp != NULL && r->fp != stdin)
		fclose(r->fp);
	free(r->line);
}

/* Reads the next record line without its newline.  Returns 1, 0 at the end
 * of the file, or -1 with err set. */
static int state_reader_next(struct state_reader *r, struct avpn_error *err)
{
	ssize_t len;

	for (;;) {
		errno = 0;
		len = getline(&r->line, &r->size, r->fp);
		if (len == -1 && errno != 0)
			return error_set(err, "%s: %s", r->name,
					 strerror(errno));
		if (len == -1)
			return 0;
		r->lineno++;
		if (len > 0 && r->line[len - 1] == '\n')
			r->line[--len] = '\0';
		if ((size_t)len != strlen(r->line))
			return error_set(err, "%s:%lu: contains a NUL byte",
					 r->name, r->lineno);
		if (len == 0 || r->line[0] == '#')
			continue;
		return 1;
	}
}

/* Prefixes err with the file name and line number of r. */
static int state_reader_error(struct state_reader *r, struct avpn_error *err)
{
	struct avpn_error copy;

	if (err == NULL)
		return -1;
	copy = *err;
	return error_set(err, "%s:%lu: %s", r->name, r->lineno, copy.text);
}

int self_record_read(struct self_record *rec, const char *path,
		     struct avpn_error *err)
{
	struct state_reader r;
	int rc;

	if (state_reader_open(&r, path, err) == -1)
		return -1;
	rc = state_reader_next(&r, err);
	if (rc == 0)
		rc = error_set(err, "%s: no self record found", r.name);
	else if (rc == 1 && self_record_parse(rec, r.line, err) == -1)
		rc = state_reader_error(&r, err);
	state_reader_close(&r);
	return rc == 1 ? 0 : -1;
}

/* Appends one record to *recs, growing the array as needed. */
static int peer_records_append(struct peer_record **recs, size_t *count,
			       size_t *cap, const struct peer_record *rec,
			       struct avpn_error *err)
{
	struct peer_record *grown;
	size_t new_cap;

	if (*count == *cap) {
		new_cap = *cap == 0 ? 16 : *cap * 2;
		grown = reallocarray(*recs, new_cap, sizeof(**recs));
		if (grown == NULL)
			return error_set(err, "out of memory");
		*recs = grown;
		*cap = new_cap;
	}
	(*recs)[(*count)++] = *rec;
	return 0;
}

ssize_t peer_records_read(struct peer_record **recs, const char *path,
			  struct avpn_error *err)
{
	struct state_reader r;
	struct peer_record rec;
	size_t count = 0, cap = 0;
	int rc;

	*recs = NULL;
	if (state_reader_open(&r, path, err) == -1)
		return -1;
	while ((rc = state_reader_next(&r, err)) == 1) {
		if (count == PEER_RECORDS_MAX) {
			rc = error_set(err, "%s:%lu: more than %d peer lines",
				       r.name, r.lineno, PEER_RECORDS_MAX);
			break;
		}
		if (peer_record_parse(&rec, r.line, err) == -1) {
			rc = state_reader_error(&r, err);
			break;
		}
		if (peer_records_append(recs, &count, &cap, &rec, err) == -1) {
			rc = -1;
			break;
		}
	}
	state_reader_close(&r);
	if (rc == -1) {
		free(*recs);
		*recs = NULL;
		return -1;
	}
	return (ssize_t)count;
}

/* Writes all of data to fd, retrying short writes. */
static int write_all(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, data, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Opens and locks "path.lock", waiting for another writer to finish.
 * Returns the descriptor, which holds the lock until closed. */
static int state_lock(const char *path, struct avpn_error *err)
{
	char lock_path[PATH_MAX];
	int fd;

	if (snprintf(lock_path, sizeof(lock_path), "%s.lock", path) >=
	    (int)sizeof(lock_path))
		return error_set(err, "%s: path too long", path);
	fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return error_set(err, "%s: %s", lock_path, strerror(errno));
	while (flock(fd, LOCK_EX) == -1) {
		if (errno != EINTR) {
			error_set(err, "%s: flock: %s", lock_path,
				  strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* Opens the directory that contains path and fsyncs it, so the rename
 * survives a crash. */
static int state_sync_dir(const char *dir, struct avpn_error *err)
{
	int fd, rc = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return error_set(err, "%s: %s", dir, strerror(errno));
	if (fsync(fd) == -1)
		rc = error_set(err, "%s: fsync: %s", dir, strerror(errno));
	close(fd);
	return rc;
}

/* Sets the mode, writes all of data and fsyncs.  Returns -1 with errno. */
static int state_fill(int fd, const char *data, size_t len, mode_t mode)
{
	if (fchmod(fd, mode) == -1 || write_all(fd, data, len) == -1 ||
	    fsync(fd) == -1)
		return -1;
	return 0;
}

/* Gives the unnamed file fd the name tmp.  Linking through /proc needs no
 * privilege; AT_EMPTY_PATH serves where /proc is not mounted, but linkat(2)
 * documents that it needs CAP_DAC_READ_SEARCH. */
static int state_link(int fd, const char *tmp)
{
	char proc_path[64];

	snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc_path, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	return linkat(fd, "", AT_FDCWD, tmp, AT_EMPTY_PATH);
}

/* Fills fd, links it as tmp unless it has that name already, and closes
 * it.  Removes tmp when that fails. */
static int state_complete(int fd, const char *tmp, bool named,
			  const char *data, size_t len, mode_t mode,
			  struct avpn_error *err)
{
	int saved;

	if (state_fill(fd, data, len, mode) == -1 ||
	    (!named && state_link(fd, tmp) == -1)) {
		saved = errno;
		close(fd);
		if (named)
			unlink(tmp);
		return error_set(err, "%s: %s", tmp, strerror(saved));
	}
	if (close(fd) == -1) {
		saved = errno;
		unlink(tmp);
		return error_set(err, "%s: %s", tmp, strerror(saved));
	}
	return 0;
}

/*
 * Writes data, with the final mode, to a file without a name in dir
 * (O_TMPFILE, Linux 3.11 and later), fsyncs it and only then links it as
 * tmp.  A writer killed before the link leaves nothing behind; only a kill
 * between the link and the rename leaves tmp, which the next writer
 * removes.  A filesystem without O_TMPFILE gets tmp written directly.
 */
static int state_write_temp(const char *dir, const char *tmp,
			    const char *data, size_t len, mode_t mode,
			    struct avpn_error *err)
{
	bool named;
	int fd;

	/* Under the lock no other writer uses tmp: it is a leftover. */
	if (unlink(tmp) == -1 && errno != ENOENT)
		return error_set(err, "%s: %s", tmp, strerror(errno));
	fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	named = fd == -1 && (errno == EOPNOTSUPP || errno == EISDIR);
	/* NOTE: no test runs this path, which needs a filesystem without
	 * O_TMPFILE. */
	if (named)
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			  O_CLOEXEC, 0600);
	if (fd == -1)
		return error_set(err, "%s: %s", named ? tmp : dir,
				 strerror(errno));
	return state_complete(fd, tmp, named, data, len, mode, err);
}

/* Splits path into its directory and the temporary name beside it. */
static int state_temp_names(const char *path, char *dir, char *tmp,
			    struct avpn_error *err)
{
	char copy[PATH_MAX], base_copy[PATH_MAX];

	if (strlen(path) >= PATH_MAX - 16)
		return error_set(err, "%s: path too long", path);
	memcpy(copy, path, strlen(path) + 1);
	memcpy(base_copy, path, strlen(path) + 1);
	snprintf(dir, PATH_MAX, "%s", dirname(copy));
	if (snprintf(tmp, PATH_MAX, "%s/.%s.tmp", dir,
		     basename(base_copy)) >= PATH_MAX)
		return error_set(err, "%s: path too long", path);
	return 0;
}

int state_write_atomic(const char *path, const char *data, size_t len,
		       mode_t mode, struct avpn_error *err)
{
	char dir[PATH_MAX], tmp[PATH_MAX];
	int lock_fd, rc = -1;

	if (strcmp(path, "-") == 0) {
		if (write_all(STDOUT_FILENO, data, len) == -1)
			return error_set(err, "stdout: %s", strerror(errno));
		return 0;
	}
	if (state_temp_names(path, dir, tmp, err) == -1)
		return -1;
	lock_fd = state_lock(path, err);
	if (lock_fd == -1)
		return -1;
	if (state_write_temp(dir, tmp, data, len, mode, err) == -1)
		goto out;
	if (rename(tmp, path) == -1) {
		error_set(err, "%s: rename: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = state_sync_dir(dir, err);
out:
	close(lock_fd);
	return rc;
}

int state_check_writable(const char *path, struct avpn_error *err)
{
	char dir[PATH_MAX], tmp[PATH_MAX];
	struct stat st;

	if (strcmp(path, "-") == 0)
		return 0;
	if (state_temp_names(path, dir, tmp, err) == -1)
		return -1;
	if (stat(dir, &st) == -1)
		return error_set(err, "%s: directory %s: %s; create it or "
				 "choose another path", path, dir,
				 strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return error_set(err, "%s: %s is not a directory", path, dir);
	if (access(dir, W_OK | X_OK) == -1)
		return error_set(err, "%s: cannot write in directory %s: %s",
				 path, dir, strerror(errno));
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return error_set(err, "%s: is a directory; name a file", path);
	return 0;
}
