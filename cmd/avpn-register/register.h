/* The registration run of avpn-register, after its options are checked. */
#ifndef AVPN_REGISTER_H
#define AVPN_REGISTER_H

#include <stdbool.h>
#include <stdint.h>

#include "endpoint.h"
#include "key.h"
#include "state.h"
#include "subnet.h"

/* How long the NAT test on the registry's second port may take at most. */
#define REGISTER_NAT_TEST_MS 2000

/* A random port that cannot be bound is replaced this many times. */
#define REGISTER_PORT_TRIES 5

struct registration {
	uint8_t public_key[AVPN_KEY_LEN];
	uint8_t shared[32];            /* secret: wiped by the caller */
	uint8_t registry_key[AVPN_KEY_LEN];
	const char *key_path;          /* for messages */
	const char *registry_pub_path; /* for messages */
	char registry_name[128];       /* "-r" as given, and its address */
	union endpoint registry;
	union endpoint bind;           /* address and port to bind */
	bool random_port;              /* bind.port may be replaced */
	enum nat_type previous_nat;    /* from the reused self record */
	union endpoint override;       /* -e, or unset */
	bool override_follows_port;    /* -e had no port: use the local one */
	struct subnet_list subnets;
	unsigned int timeout_s;
	uint64_t deadline_ms;
};

/*
 * Registers with the registry, then finds the NAT type, and fills rec.
 * Exits with the documented code when the registry does not answer,
 * answers with another key or rejects the node.
 */
void register_node(struct registration *reg, struct self_record *rec);

/* Writes progress text from the exchange at debug level (-v). */
void trace_progress(void *arg, const char *text);

#endif
