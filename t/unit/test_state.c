/* Unit tests for common/state.c: self records, peer lines and atomic
 * writes. */
#include <errno.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include <dirent.h>

#include "state.h"
#include "unit.h"
#include "unit_files.h"

#define KEY_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_B "//////////////////////////////////////////8="

static const char self_line[] =
	"branch\t" KEY_A "\t192.168.0.1:40000\t192.0.2.73:40000\t"
	"endpoint-independent\t203.0.113.28:9350\t" KEY_B "\t"
	"10.2.0.0/24,fd00:2::/64\t-\t1700000000";

static const char peer_line[] =
	"hq\t" KEY_B "\thub\t198.51.100.1:41000\t10.1.0.1:41000\t"
	"10.1.0.0/24\t1700000100\t-\tendpoint-dependent";

static void test_fields_split(void)
{
	char line[64], *f[4];

	strcpy(line, "a\tb\tc");
	CHECK(fields_split(line, f, 4) == 3, "three fields");
	CHECK_STR(f[2], "c", "third field");
	strcpy(line, "a\t\tc\t");
	CHECK(fields_split(line, f, 4) == 4, "empty fields counted");
	CHECK_STR(f[1], "", "empty middle field");
	CHECK_STR(f[3], "", "empty last field");
	strcpy(line, "a b c");
	CHECK(fields_split(line, f, 4) == 1, "spaces do not separate");
	strcpy(line, "a\tb\tc\td\te");
	CHECK(fields_split(line, f, 4) == -1, "too many fields");
	strcpy(line, "");
	CHECK(fields_split(line, f, 4) == 1, "empty line is one field");
}

static void test_names(void)
{
	static const char *const good[] = {
		"hq", "a", "branch-1.site_2", "ABCdef0123456789",
		"abcdefghijklmnopqrstuvwxyz012345",
	};
	static const char *const bad[] = {
		"", "abcdefghijklmnopqrstuvwxyz0123456", "a b", "a/b", "a\tb",
		"caf\xc3\xa9", "a:b", "a,b", "a#b",
	};
	char name[96];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(name, sizeof(name), "name \"%s\" accepted", good[i]);
		CHECK(name_check(good[i], NULL) == 0, name);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "name \"%s\" rejected", bad[i]);
		CHECK(name_check(bad[i], NULL) == -1, name);
	}
}

static void test_keywords(void)
{
	static const enum nat_type types[] = {
		NAT_UNKNOWN, NAT_NONE, NAT_INDEPENDENT, NAT_DEPENDENT,
	};
	enum nat_type type;
	enum node_role role;
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		CHECK(nat_type_parse(&type, nat_type_name(types[i]), NULL) ==
			      0 && type == types[i], nat_type_name(types[i]));
	}
	CHECK_STR(nat_type_name(NAT_INDEPENDENT), "endpoint-independent",
		  "NAT type name");
	CHECK(nat_type_parse(&type, "symmetric", NULL) == -1,
	      "unknown NAT type rejected");
	CHECK(nat_type_parse(&type, "None", NULL) == -1,
	      "NAT type is case-sensitive");
	CHECK(node_role_parse(&role, "hub", NULL) == 0, "role hub parses");
	CHECK(role == ROLE_HUB, "role hub");
	CHECK(node_role_parse(&role, "spoke", NULL) == 0, "role spoke parses");
	CHECK(role == ROLE_SPOKE, "role spoke");
	CHECK(node_role_parse(&role, "Hub", NULL) == -1, "role Hub rejected");
	CHECK_STR(node_role_name(ROLE_SPOKE), "spoke", "role name");
}

static void test_self_parse(void)
{
	struct self_record rec;
	struct avpn_error e = { "" };
	char out[2048], text[ENDPOINT_STRLEN];

	CHECK(self_record_parse(&rec, self_line, &e) == 0, "self line parses");
	CHECK_STR(rec.name, "branch", "self name");
	CHECK(rec.public_key[1] == 1, "self public key");
	endpoint_format(text, &rec.observed);
	CHECK_STR(text, "192.0.2.73:40000", "self public endpoint");
	CHECK(rec.nat == NAT_INDEPENDENT, "self NAT type");
	CHECK(rec.registry_key[0] == 0xff, "self registry key");
	CHECK(rec.subnets.count == 2, "self subnets");
	CHECK(!endpoint_is_set(&rec.override), "self override unset");
	CHECK(rec.registered_at == 1700000000, "self registered at");
	CHECK(self_record_format(out, sizeof(out), &rec) ==
	      (int)strlen(self_line) + 1, "self format length");
	CHECK(out[strlen(out) - 1] == '\n', "self format ends in newline");
	out[strlen(out) - 1] = '\0';
	CHECK_STR(out, self_line, "self record round trip");
}

/* Replaces field index of a tab-separated line with value. */
static void replace_field(char *out, size_t size, const char *line,
			  int index, const char *value)
{
	const char *p = line, *end;
	int i;

	for (i = 0; i < index; i++)
		p = strchr(p, '\t') + 1;
	end = strchr(p, '\t');
	snprintf(out, size, "%.*s%s%s", (int)(p - line), line, value,
		 end != NULL ? end : "");
}

static void check_self_field(int index, const char *value, const char *why)
{
	char line[2048], name[160];
	struct self_record rec;
	struct avpn_error e = { "" };

	replace_field(line, sizeof(line), self_line, index, value);
	snprintf(name, sizeof(name), "self field %d \"%s\" rejected",
		 index + 1, value);
	CHECK(self_record_parse(&rec, line, &e) == -1, name);
	CHECK(strstr(e.text, why) != NULL, name);
	if (strstr(e.text, why) == NULL)
		printf("#   error was \"%s\"\n", e.text);
}

static void test_self_bad(void)
{
	char line[2048];
	struct self_record rec;
	struct avpn_error e = { "" };
	size_t i;

	check_self_field(0, "", "field 1 (name)");
	check_self_field(0, "a b", "field 1 (name)");
	check_self_field(1, "AAAA", "field 2 (public key)");
	check_self_field(2, "192.168.0.1", "field 3 (local endpoint)");
	check_self_field(2, "192.168.0.1:0", "field 3");
	check_self_field(3, "192.0.2.73:65536", "field 4 (public endpoint)");
	check_self_field(4, "symmetric", "field 5 (NAT type)");
	check_self_field(5, "registry:9350", "field 6 (registry endpoint)");
	check_self_field(6, "-", "field 7 (registry public key)");
	check_self_field(7, "", "field 8 (subnets)");
	check_self_field(7, "10.2.0.1/24", "use 10.2.0.0/24");
	check_self_field(7, "10.2.0.0/24,10.2.0.0/24", "duplicate");
	check_self_field(8, "x", "field 9 (override endpoint)");
	check_self_field(9, "-1", "field 10 (registered at)");
	check_self_field(9, "+1", "field 10");
	check_self_field(9, "", "field 10");
	check_self_field(9, "1700000000\r", "field 10");
	check_self_field(9, "99999999999999999999", "field 10");

	snprintf(line, sizeof(line), "%s\textra", self_line);
	CHECK(self_record_parse(&rec, line, &e) == -1, "11 fields rejected");
	CHECK(strstr(e.text, "more than 10 fields") != NULL,
	      "11 fields error");
	strcpy(line, self_line);
	*strrchr(line, '\t') = '\0';
	CHECK(self_record_parse(&rec, line, &e) == -1, "9 fields rejected");
	CHECK(strstr(e.text, "has 9 fields, expected 10") != NULL,
	      "9 fields error");
	strcpy(line, self_line);
	for (i = 0; line[i] != '\0'; i++)
		if (line[i] == '\t')
			line[i] = ' ';
	CHECK(self_record_parse(&rec, line, &e) == -1,
	      "spaces instead of tabs rejected");
	CHECK(strstr(e.text, "separated by tabs") != NULL,
	      "spaces error mentions tabs");
}

static void test_self_unset(void)
{
	char line[2048], out[2048];
	struct self_record rec;
	struct avpn_error e = { "" };

	snprintf(line, sizeof(line),
		 "hq\t%s\t[2001:db8::1]:40000\t-\tunknown\t-\t%s\t-\t"
		 "[2001:db8::2]:51820\t0", KEY_A, KEY_B);
	CHECK(self_record_parse(&rec, line, &e) == 0,
	      "self line with unset endpoints");
	CHECK(!endpoint_is_set(&rec.observed), "observed unset");
	CHECK(rec.subnets.count == 0, "no subnets");
	self_record_format(out, sizeof(out), &rec);
	out[strlen(out) - 1] = '\0';
	CHECK_STR(out, line, "unset fields round trip");
}

static void test_peer(void)
{
	char line[2048], out[2048];
	struct peer_record rec;
	struct avpn_error e = { "" };

	CHECK(peer_record_parse(&rec, peer_line, &e) == 0, "peer line parses");
	CHECK_STR(rec.name, "hq", "peer name");
	CHECK(rec.role == ROLE_HUB, "peer role");
	CHECK(rec.last_seen == 1700000100, "peer last seen");
	CHECK(rec.nat == NAT_DEPENDENT, "peer NAT type");
	peer_record_format(out, sizeof(out), &rec);
	out[strlen(out) - 1] = '\0';
	CHECK_STR(out, peer_line, "peer record round trip");

	replace_field(line, sizeof(line), peer_line, 2, "router");
	CHECK(peer_record_parse(&rec, line, &e) == -1, "peer bad role");
	CHECK(strstr(e.text, "field 3 (role)") != NULL, "peer role error");
	replace_field(line, sizeof(line), peer_line, 6, "soon");
	CHECK(peer_record_parse(&rec, line, &e) == -1, "peer bad time");
	replace_field(line, sizeof(line), peer_line, 4, "[::1]");
	CHECK(peer_record_parse(&rec, line, &e) == -1,
	      "peer endpoint without port");
	replace_field(line, sizeof(line), peer_line, 8, "cone");
	CHECK(peer_record_parse(&rec, line, &e) == -1, "peer bad NAT type");
	CHECK(strstr(e.text, "field 9 (NAT type)") != NULL,
	      "peer NAT type error");
	snprintf(line, sizeof(line), "%s\t-", peer_line);
	CHECK(peer_record_parse(&rec, line, &e) == -1, "peer 10 fields");
	strcpy(line, peer_line);
	*strrchr(line, '\t') = '\0';
	CHECK(peer_record_parse(&rec, line, &e) == -1, "peer 8 fields");
	CHECK(peer_record_parse(&rec, self_line, &e) == -1,
	      "self line is not a peer line");
}

static void test_self_read(void)
{
	char text[4096];
	struct self_record rec;
	struct avpn_error e = { "" };
	const char *path = unit_path("self");

	snprintf(text, sizeof(text), "# self record\n\n%s\n", self_line);
	unit_write_file(path, text, 0644);
	CHECK(self_record_read(&rec, path, &e) == 0, "self file read");
	CHECK_STR(rec.name, "branch", "self file record");

	unit_write_file(path, "# only a comment\n\n", 0644);
	CHECK(self_record_read(&rec, path, &e) == -1, "self file empty");
	CHECK(strstr(e.text, "no self record") != NULL, "empty self error");

	snprintf(text, sizeof(text), "# c\n\n%s\textra\n", self_line);
	unit_write_file(path, text, 0644);
	CHECK(self_record_read(&rec, path, &e) == -1, "bad self line");
	snprintf(text, sizeof(text), "%s:3: ", path);
	CHECK(strncmp(e.text, text, strlen(text)) == 0,
	      "self error names path and line");

	CHECK(self_record_read(&rec, unit_path("none"), &e) == -1,
	      "missing self file");
	CHECK(strstr(e.text, "No such file") != NULL, "missing self error");
}

static void test_peers_read(void)
{
	char text[8192];
	struct peer_record *recs;
	struct avpn_error e = { "" };
	const char *path = unit_path("peers");
	ssize_t n;

	snprintf(text, sizeof(text), "%s\n# two\n%s\n%s\n", peer_line,
		 peer_line, peer_line);
	unit_write_file(path, text, 0644);
	n = peer_records_read(&recs, path, &e);
	CHECK(n == 3, "three peer lines read");
	if (n == 3)
		CHECK_STR(recs[2].name, "hq", "third peer");
	free(recs);

	unit_write_file(path, "", 0644);
	CHECK(peer_records_read(&recs, path, &e) == 0, "no peers");
	free(recs);

	snprintf(text, sizeof(text), "%s\n%s\tx\n", peer_line, peer_line);
	unit_write_file(path, text, 0644);
	CHECK(peer_records_read(&recs, path, &e) == -1, "bad peer line");
	CHECK(recs == NULL, "bad peer file returns no array");
	snprintf(text, sizeof(text), "%s:2: ", path);
	CHECK(strncmp(e.text, text, strlen(text)) == 0,
	      "peer error names path and line");
}

/* Counts the entries of dir whose names start with prefix. */
static int count_entries(const char *dir, const char *prefix)
{
	struct dirent *d;
	DIR *dp = opendir(dir);
	int n = 0;

	if (dp == NULL)
		return -1;
	while ((d = readdir(dp)) != NULL)
		if (strncmp(d->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(dp);
	return n;
}

static void test_write_atomic(void)
{
	char text[256];
	struct avpn_error e = { "" };
	struct stat st;
	const char *path = unit_path("out");

	CHECK(state_write_atomic(path, "one\n", 4, 0644, &e) == 0,
	      "atomic write");
	unit_read_file(path, text, sizeof(text));
	CHECK_STR(text, "one\n", "atomic write contents");
	CHECK(stat(path, &st) == 0, "stat written file");
	CHECK((st.st_mode & 07777) == 0644, "atomic write mode 0644");
	CHECK(access(unit_path("out.lock"), F_OK) == 0, "lock file created");

	CHECK(state_write_atomic(path, "two\n", 4, 0600, &e) == 0,
	      "atomic replace");
	unit_read_file(path, text, sizeof(text));
	CHECK_STR(text, "two\n", "atomic replace contents");
	CHECK(stat(path, &st) == 0, "stat replaced file");
	CHECK((st.st_mode & 07777) == 0600, "atomic write mode 0600");
	CHECK(count_entries(unit_dir, ".out.") == 0, "no temporary file left");

	CHECK(state_write_atomic(unit_path("missing/out"), "x", 1, 0644,
				 &e) == -1, "missing directory");
	CHECK(strstr(e.text, "missing/out") != NULL,
	      "missing directory error names path");
}

/* Makes every write past 8 bytes fail with EFBIG, in a child process. */
static void test_write_failure(void)
{
	struct avpn_error e = { "" };
	struct rlimit limit = { 8, 8 };
	const char *path = unit_path("kept");
	char text[64];
	pid_t pid;
	int status;

	unit_write_file(path, "old\n", 0644);
	pid = fork();
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &limit);
		_exit(state_write_atomic(path, "a longer new record\n", 20,
					 0644, &e) == -1 &&
		      strstr(e.text, "too large") != NULL ? 0 : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
	      WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "write past the file size limit fails");
	unit_read_file(path, text, sizeof(text));
	CHECK_STR(text, "old\n", "failed write keeps old file");
	CHECK(count_entries(unit_dir, ".kept.") == 0,
	      "failed write removes temporary file");
}

/* True when the filesystem of dir supports O_TMPFILE. */
static bool tmpfile_supported(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);

	if (fd == -1)
		return false;
	close(fd);
	return true;
}

/* Fills buf with len bytes of c and a newline at the end. */
static void fill_record(char *buf, size_t len, char c)
{
	memset(buf, c, len - 1);
	buf[len - 1] = '\n';
}

/* True when path holds exactly len bytes of c ending in a newline. */
static bool file_is_record(const char *path, size_t len, char c)
{
	static char got[1 << 20];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	size_t i;

	if (fd == -1)
		return false;
	n = read(fd, got, sizeof(got));
	close(fd);
	if (n != (ssize_t)len || got[len - 1] != '\n')
		return false;
	for (i = 0; i + 1 < len; i++)
		if (got[i] != c)
			return false;
	return true;
}

/*
 * A file size limit kills the writer with SIGXFSZ halfway through its
 * write, the moment a kill is most likely to hit.  The data is still in a
 * file without a name then, so nothing is left behind.
 */
static void test_write_killed_midway(void)
{
	static char data[64 * 1024];
	struct rlimit limit = { 4096, 4096 };
	const char *path = unit_path("mid");
	char text[64];
	int status;
	pid_t pid;

	fill_record(data, sizeof(data), 'n');
	unit_write_file(path, "old\n", 0644);
	pid = fork();
	if (pid == 0) {
		signal(SIGXFSZ, SIG_DFL);
		setrlimit(RLIMIT_FSIZE, &limit);
		state_write_atomic(path, data, sizeof(data), 0644, NULL);
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
	      WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ,
	      "writer is killed halfway by SIGXFSZ");
	unit_read_file(path, text, sizeof(text));
	CHECK_STR(text, "old\n", "killed writer keeps the old file");
	if (!tmpfile_supported(unit_dir)) {
		printf("ok %d - killed writer leaves no file # skip no "
		       "O_TMPFILE on %s\n", ++unit_count, unit_dir);
		return;
	}
	CHECK(count_entries(unit_dir, ".mid.") == 0,
	      "killed writer leaves no file");
}

/* A writer killed between link and rename leaves .NAME.tmp behind. */
static void test_write_removes_leftover(void)
{
	const char *path = unit_path("left");
	char text[64];

	unit_write_file(unit_path(".left.tmp"), "half a rec", 0644);
	CHECK(state_write_atomic(path, "new\n", 4, 0644, NULL) == 0,
	      "write beside a leftover temporary file");
	unit_read_file(path, text, sizeof(text));
	CHECK_STR(text, "new\n", "write beside a leftover has the new data");
	CHECK(count_entries(unit_dir, ".left.") == 0,
	      "write removes the leftover temporary file");
}

/*
 * Kills 60 writers of 1 MiB at random moments within about the time a
 * write takes.  After each kill the file is the old or the new record,
 * whole, and at most the one temporary name is left; the next write
 * removes it.
 */
static void test_write_kill_loop(void)
{
	static char old_data[1 << 20], new_data[1 << 20];
	const char *path = unit_path("loop");
	struct timespec pause;
	int i, whole = 1, at_most_one = 1, leftovers = 0, before, n, status;
	pid_t pid;

	fill_record(old_data, sizeof(old_data), 'o');
	fill_record(new_data, sizeof(new_data), 'n');
	srand((unsigned int)getpid());
	for (i = 0; i < 60; i++) {
		if (state_write_atomic(path, old_data, sizeof(old_data), 0644,
				       NULL) == -1)
			whole = 0;
		before = count_entries(unit_dir, ".loop.");
		pid = fork();
		if (pid == 0) {
			state_write_atomic(path, new_data, sizeof(new_data),
					   0644, NULL);
			_exit(0);
		}
		pause = (struct timespec){ 0, (rand() % 3000) * 1000L };
		nanosleep(&pause, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		if (!file_is_record(path, sizeof(old_data), 'o') &&
		    !file_is_record(path, sizeof(new_data), 'n'))
			whole = 0;
		n = count_entries(unit_dir, ".loop.");
		leftovers += n > before;
		if (n > 1)
			at_most_one = 0;
	}
	printf("# %d of 60 kills left a temporary file\n", leftovers);
	CHECK(whole, "killed writers leave the old or the new file whole");
	CHECK(at_most_one, "killed writers leave at most one temporary file");
	CHECK(state_write_atomic(path, "new\n", 4, 0644, NULL) == 0 &&
	      count_entries(unit_dir, ".loop.") == 0,
	      "the next write removes every temporary file");
}

/* As an unprivileged user, a directory it cannot write must make the write
 * fail and keep the old file.  Root bypasses directory modes, so the child
 * first switches to uid and gid 65534 (nobody on Debian). */
static void test_write_unwritable_dir(void)
{
	struct avpn_error e = { "" };
	char text[64];
	const char *dir = unit_path("ro");
	const char *path = unit_path("ro/state");
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		printf("ok %d - unwritable directory # skip needs root to "
		       "switch user\n", ++unit_count);
		return;
	}
	mkdir(dir, 0755);
	unit_write_file(path, "old\n", 0644);
	chmod(unit_dir, 0711);
	pid = fork();
	if (pid == 0) {
		if (setgid(65534) == -1 || setuid(65534) == -1)
			_exit(2);
		_exit(state_write_atomic(path, "new\n", 4, 0644, &e) == -1 ?
			      0 : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
	      WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "write into unwritable directory fails");
	chmod(unit_dir, 0700);
	unit_read_file(path, text, sizeof(text));
	CHECK_STR(text, "old\n", "unwritable directory keeps old file");
}

/* While this process holds the lock, a writer in a child must wait. */
static void test_write_lock(void)
{
	const char *path = unit_path("locked");
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	char text[64];
	int fd, status, i, waited = 1;
	pid_t pid;

	unit_write_file(path, "old\n", 0644);
	fd = open(unit_path("locked.lock"), O_RDWR | O_CREAT, 0600);
	CHECK(fd != -1, "test opens the lock file");
	CHECK(flock(fd, LOCK_EX) == 0, "test holds the lock");
	pid = fork();
	if (pid == 0) {
		/* The inherited descriptor shares the parent's lock, which
		 * would then outlive the parent's close. */
		close(fd);
		_exit(state_write_atomic(path, "new\n", 4, 0644, NULL) == 0 ?
			      0 : 1);
	}
	/* 10 checks over 200 ms: the child must still be blocked. */
	for (i = 0; i < 10; i++) {
		if (waitpid(pid, &status, WNOHANG) != 0)
			waited = 0;
		nanosleep(&pause, NULL);
	}
	CHECK(waited, "writer waits for the lock");
	unit_read_file(path, text, sizeof(text));
	CHECK_STR(text, "old\n", "file unchanged while locked");
	close(fd);
	CHECK(waited && waitpid(pid, &status, 0) == pid &&
	      WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "writer finishes after unlock");
	unit_read_file(path, text, sizeof(text));
	CHECK_STR(text, "new\n", "file replaced after unlock");
}

static void test_write_stdout(void)
{
	const char *path = unit_path("stdout");
	char text[64];
	int fd, saved;

	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	state_write_atomic("-", "to stdout\n", 10, 0644, NULL);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	unit_read_file(path, text, sizeof(text));
	CHECK_STR(text, "to stdout\n", "\"-\" writes stdout");
	CHECK(access("-.lock", F_OK) == -1, "\"-\" takes no lock file");
}

int main(void)
{
	unit_tmpdir();
	test_fields_split();
	test_names();
	test_keywords();
	test_self_parse();
	test_self_bad();
	test_self_unset();
	test_peer();
	test_self_read();
	test_peers_read();
	test_write_atomic();
	test_write_failure();
	test_write_killed_midway();
	test_write_removes_leftover();
	test_write_kill_loop();
	test_write_unwritable_dir();
	test_write_lock();
	test_write_stdout();
	return unit_done();
}
