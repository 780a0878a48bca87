/*
 * The files the one-shot tools pass to each other: the self record written
 * by avpn-register and the peer lines written by avpn-peers.  Each record is
 * one line of tab-separated fields; '#' lines and blank lines are skipped.
 * The field orders below are documented in avpn(7).
 */
#ifndef AVPN_STATE_H
#define AVPN_STATE_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "avpn.h"
#include "endpoint.h"
#include "error.h"
#include "key.h"
#include "subnet.h"

enum nat_type {
	NAT_UNKNOWN = 0,     /* "unknown": the second registry port was silent */
	NAT_NONE,            /* "none": observed endpoint is the local one */
	NAT_INDEPENDENT,     /* "endpoint-independent" mapping */
	NAT_DEPENDENT,       /* "endpoint-dependent" mapping ("symmetric") */
};

const char *nat_type_name(enum nat_type type);
int nat_type_parse(enum nat_type *type, const char *s, struct avpn_error *err);

enum node_role {
	ROLE_HUB = 1,
	ROLE_SPOKE = 2,
};

const char *node_role_name(enum node_role role);
int node_role_parse(enum node_role *role, const char *s,
		    struct avpn_error *err);

/* Checks a node name: 1-32 characters from [A-Za-z0-9._-]. */
int name_check(const char *name, struct avpn_error *err);

/*
 * The self record, one line with these fields in order:
 *   name, public key, local endpoint, public endpoint, NAT type,
 *   registry endpoint, registry public key, subnets, override endpoint,
 *   registered at (Unix seconds)
 * Unset endpoints and empty lists are "-".
 */
struct self_record {
	char name[AVPN_NAME_MAX + 1];
	uint8_t public_key[AVPN_KEY_LEN];
	union endpoint local;    /* the node's own address and port */
	union endpoint observed; /* what the registry saw: the NAT mapping */
	enum nat_type nat;
	union endpoint registry;
	uint8_t registry_key[AVPN_KEY_LEN];
	struct subnet_list subnets;
	union endpoint override; /* manual port forward, or unset */
	int64_t registered_at;
};

#define SELF_FIELDS 10

/* Parses one self line (without its newline). */
int self_record_parse(struct self_record *rec, const char *line,
		      struct avpn_error *err);

/* Formats the record as one line ending in '\n'; returns the length needed. */
int self_record_format(char *out, size_t size, const struct self_record *rec);

/*
 * Reads the first record of a self file ("-" is stdin).  Errors name the
 * path and line number.
 */
int self_record_read(struct self_record *rec, const char *path,
		     struct avpn_error *err);

/*
 * A peer line as avpn-peers prints it, fields in order:
 *   name, public key, role, public endpoint, private endpoint, subnets,
 *   last seen (Unix seconds), override endpoint, NAT type
 * The NAT type is the peer's own, as its avpn-register found it; avpn-punch
 * needs it to tell a peer it cannot reach from one that did not answer.
 */
struct peer_record {
	char name[AVPN_NAME_MAX + 1];
	uint8_t public_key[AVPN_KEY_LEN];
	enum node_role role;
	union endpoint public_ep;
	union endpoint private_ep;
	struct subnet_list subnets;
	int64_t last_seen;
	union endpoint override;
	enum nat_type nat;
};

#define PEER_FIELDS 9

int peer_record_parse(struct peer_record *rec, const char *line,
		      struct avpn_error *err);
int peer_record_format(char *out, size_t size, const struct peer_record *rec);

/*
 * Reads every peer line of a file ("-" is stdin) into a new array that the
 * caller frees.  Returns the count, or -1 with err naming path and line.
 */
ssize_t peer_records_read(struct peer_record **recs, const char *path,
			  struct avpn_error *err);

/*
 * Splits a line into tab-separated fields in place.  Returns the number of
 * fields found (at most max), or -1 if there are more than max.
 */
int fields_split(char *line, char **fields, int max);

/*
 * Writes data to path atomically, under an flock on "path.lock": a file
 * without a name (O_TMPFILE) in the same directory, fsync, a link to the
 * temporary name ".NAME.tmp", rename over path, fsync of the directory.
 * So a crash, a kill or a concurrent writer never leaves a torn file.
 * Only a kill between the link and the rename leaves ".NAME.tmp" behind,
 * and the next write removes it.  Where the filesystem has no O_TMPFILE,
 * ".NAME.tmp" is written directly.  mode is the new file's mode (0644 for
 * state, 0600 for anything secret).  path "-" writes to stdout instead.
 */
int state_write_atomic(const char *path, const char *data, size_t len,
		       mode_t mode, struct avpn_error *err);

/*
 * Checks, before any work, that state_write_atomic could create path: its
 * directory exists and this process may write there.  "-" always passes.
 * A tool calls it right after option parsing, so a bad -o fails before
 * anything goes on the network.
 */
int state_check_writable(const char *path, struct avpn_error *err);

#endif
