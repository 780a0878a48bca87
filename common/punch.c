#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "punch.h"

static const char *const punch_via_names[] = {
	[PUNCH_VIA_OVERRIDE] = "override",
	[PUNCH_VIA_PUBLIC] = "public",
	[PUNCH_VIA_PRIVATE] = "private",
	[PUNCH_VIA_PREDICTED] = "predicted",
	[PUNCH_VIA_REFLEXIVE] = "reflexive",
};

#define PUNCH_VIA_COUNT (sizeof(punch_via_names) / sizeof(punch_via_names[0]))

const char *punch_via_name(enum punch_via via)
{
	if ((size_t)via >= PUNCH_VIA_COUNT)
		return "unknown";
	return punch_via_names[via];
}

int punch_via_parse(enum punch_via *via, const char *s,
		    struct avpn_error *err)
{
	size_t i;

	for (i = 0; i < PUNCH_VIA_COUNT; i++) {
		if (strcmp(s, punch_via_names[i]) == 0) {
			*via = (enum punch_via)i;
			return 0;
		}
	}
	return error_set(err, "invalid path kind \"%s\": expected override, "
			 "public, private, predicted or reflexive", s);
}

void punch_peer_init(struct punch_peer *p, const uint8_t key[AVPN_KEY_LEN],
		     const char *name)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->public_key, key, AVPN_KEY_LEN);
	strlcpy(p->name, name, sizeof(p->name));
	p->state = PUNCH_IDLE;
}

static int punch_candidate_find(const struct punch_peer *p,
				const union endpoint *ep)
{
	size_t i;

	for (i = 0; i < p->candidate_count; i++)
		if (endpoint_equal(&p->candidates[i].ep, ep))
			return (int)i;
	return -1;
}

int punch_candidate_add(struct punch_peer *p, const union endpoint *ep,
			enum punch_via via)
{
	int i;

	if (!endpoint_is_set(ep))
		return -1;
	i = punch_candidate_find(p, ep);
	if (i != -1)
		return i;
	if (p->candidate_count == PUNCH_MAX_CANDIDATES)
		return -1;
	p->candidates[p->candidate_count].ep = *ep;
	p->candidates[p->candidate_count].via = via;
	return (int)p->candidate_count++;
}

void punch_candidates_from_peer(struct punch_peer *p,
				const union endpoint *override,
				const union endpoint *public_ep,
				const union endpoint *private_ep)
{
	union endpoint predicted;

	punch_candidate_add(p, override, PUNCH_VIA_OVERRIDE);
	punch_candidate_add(p, public_ep, PUNCH_VIA_PUBLIC);
	punch_candidate_add(p, private_ep, PUNCH_VIA_PRIVATE);
	if (!endpoint_is_set(public_ep) || !endpoint_is_set(private_ep) ||
	    public_ep->sa.sa_family != private_ep->sa.sa_family ||
	    endpoint_port(public_ep) == endpoint_port(private_ep))
		return;
	predicted = *public_ep;
	endpoint_set_port(&predicted, endpoint_port(private_ep));
	punch_candidate_add(p, &predicted, PUNCH_VIA_PREDICTED);
}

void punch_start(struct punch_peer *p, const struct punch_config *cfg,
		 bool with_low_ttl, uint64_t now_us)
{
	p->state = PUNCH_TRYING;
	p->low_ttl = with_low_ttl && cfg->low_ttl > 0 && cfg->low_rounds > 0;
	p->round = 0;
	p->interval_ms = cfg->interval_ms;
	p->next_us = now_us;
	p->deadline_us = now_us + (uint64_t)cfg->budget_ms * 1000;
	p->hold_until_us = 0;
}

uint64_t punch_next_us(const struct punch_peer *p)
{
	if (p->state != PUNCH_TRYING)
		return UINT64_MAX;
	return p->next_us < p->deadline_us ? p->next_us : p->deadline_us;
}

/* Fills one probe to candidate i and remembers it as pending. */
static void punch_probe_fill(struct punch_peer *p, size_t i, uint8_t ttl,
			     uint64_t now_us, struct punch_send *send)
{
	struct punch_pending *pending;

	memset(send, 0, sizeof(*send));
	send->dest = p->candidates[i].ep;
	send->ttl = ttl;
	send->msg.type = MSG_PROBE;
	send->msg.timestamp = proto_timestamp();
	randombytes_buf(&send->msg.u.probe.probe_id,
			sizeof(send->msg.u.probe.probe_id));
	send->msg.u.probe.dest = send->dest;

	pending = &p->pending[p->pending_next];
	p->pending_next = (p->pending_next + 1) % PUNCH_MAX_PENDING;
	pending->probe_id = send->msg.u.probe.probe_id;
	pending->timestamp = send->msg.timestamp;
	pending->sent_us = now_us;
	pending->candidate = (uint8_t)i;
	p->probes_sent++;
}

/* Moves the schedule on by one round. */
static void punch_advance(struct punch_peer *p,
			  const struct punch_config *cfg, uint64_t now_us)
{
	uint32_t grown;

	p->round++;
	if (p->low_ttl && p->round <= cfg->low_rounds) {
		p->next_us = now_us + (uint64_t)cfg->low_gap_ms * 1000;
		return;
	}
	p->next_us = now_us + (uint64_t)p->interval_ms * 1000;
	grown = p->interval_ms + p->interval_ms / 2;
	p->interval_ms = grown < cfg->max_interval_ms ? grown :
		cfg->max_interval_ms;
}

void punch_hold(struct punch_peer *p, uint64_t until_us)
{
	/* A round postponed by the old hold moves with it. */
	if (p->hold_until_us != 0 && p->next_us == p->hold_until_us)
		p->next_us = until_us;
	p->hold_until_us = until_us;
}

size_t punch_due(struct punch_peer *p, const struct punch_config *cfg,
		 uint64_t now_us, struct punch_send *out, size_t max)
{
	bool low = p->low_ttl && p->round < cfg->low_rounds;
	bool lan;
	size_t i, n = 0;

	if (p->state != PUNCH_TRYING)
		return 0;
	if (now_us >= p->deadline_us) {
		p->state = PUNCH_EXPIRED;
		return 0;
	}
	if (now_us < p->next_us)
		return 0;
	if (!low && now_us < p->hold_until_us) {
		p->next_us = p->hold_until_us;
		return 0;
	}
	for (i = 0; i < p->candidate_count && n < max; i++) {
		lan = p->candidates[i].via == PUNCH_VIA_PRIVATE;
		/* A LAN address needs no mapping opened: it gets one
		 * normal probe in the first round and waits for the rest. */
		if (low && lan && p->round > 0)
			continue;
		punch_probe_fill(p, i, low && !lan ? cfg->low_ttl : 0, now_us,
				 &out[n++]);
	}
	punch_advance(p, cfg, now_us);
	return n;
}

bool punch_timestamp_accept(struct punch_peer *p, uint64_t timestamp)
{
	if (timestamp <= p->last_timestamp)
		return false;
	p->last_timestamp = timestamp;
	return true;
}

int punch_peer_record_check(const struct peer_record *rec,
			    struct avpn_error *err)
{
	const struct {
		const char *field;
		const union endpoint *ep;
	} eps[] = {
		{ "override endpoint", &rec->override },
		{ "public endpoint", &rec->public_ep },
		{ "private endpoint", &rec->private_ep },
	};
	struct avpn_error e;
	size_t i;

	for (i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
		if (endpoint_is_set(eps[i].ep) &&
		    endpoint_check_unicast(eps[i].ep, &e) == -1)
			return error_set(err, "%s of %s: %s", eps[i].field,
					 rec->name, e.text);
	}
	return 0;
}

int punch_registry_check(const union endpoint *registry,
			 const union endpoint *from, uint64_t timestamp_ns,
			 uint64_t now_ns, struct avpn_error *err)
{
	const uint64_t max_age_ns = (uint64_t)PUNCH_REGISTRY_MAX_AGE_S *
				    1000000000u;
	char ep[ENDPOINT_STRLEN], reg[ENDPOINT_STRLEN];
	uint64_t age_s;

	if (!endpoint_equal(from, registry)) {
		endpoint_format(ep, from);
		endpoint_format(reg, registry);
		return error_set(err, "sent from %s, not from the registry's "
				 "endpoint %s", ep, reg);
	}
	if (timestamp_ns < now_ns && now_ns - timestamp_ns > max_age_ns) {
		age_s = (now_ns - timestamp_ns) / 1000000000u;
		return error_set(err, "timestamp %llu s old, more than %d s "
				 "(replayed, or the clocks of this host and "
				 "the registry differ)",
				 (unsigned long long)age_s,
				 PUNCH_REGISTRY_MAX_AGE_S);
	}
	return 0;
}

void punch_probe_received(struct punch_peer *p, const struct proto_msg *probe,
			  const union endpoint *from,
			  const struct punch_config *cfg, bool with_low_ttl,
			  uint64_t now_us, struct proto_msg *reply)
{
	size_t before = p->candidate_count;
	bool held = p->hold_until_us > now_us;

	memset(reply, 0, sizeof(*reply));
	reply->type = MSG_PROBE_REPLY;
	reply->timestamp = proto_timestamp();
	reply->echo = probe->timestamp;
	reply->u.probe.probe_id = probe->u.probe.probe_id;
	reply->u.probe.observed = *from;
	reply->u.probe.dest = probe->u.probe.dest;

	p->probes_received++;
	p->last_probe_us = now_us;
	p->hold_until_us = 0;
	punch_candidate_add(p, from, PUNCH_VIA_REFLEXIVE);
	if (p->state == PUNCH_IDLE || p->state == PUNCH_EXPIRED)
		punch_start(p, cfg, with_low_ttl, now_us);
	else if (p->state == PUNCH_TRYING &&
		 (p->candidate_count > before || held))
		p->next_us = now_us;
}

static const struct punch_pending *
punch_pending_find(const struct punch_peer *p, const struct proto_msg *reply)
{
	size_t i;

	for (i = 0; i < PUNCH_MAX_PENDING; i++) {
		if (p->pending[i].timestamp != 0 &&
		    p->pending[i].probe_id == reply->u.probe.probe_id &&
		    p->pending[i].timestamp == reply->echo)
			return &p->pending[i];
	}
	return NULL;
}

bool punch_reply_received(struct punch_peer *p, const struct proto_msg *reply,
			  const union endpoint *from, uint64_t now_us)
{
	const struct punch_pending *pending;
	enum punch_via via = PUNCH_VIA_REFLEXIVE;
	int i;

	pending = punch_pending_find(p, reply);
	if (pending == NULL)
		return false;
	/* The reply's source is the path that works; it differs from the
	 * probed candidate when the peer's NAT moved the flow. */
	i = punch_candidate_find(p, from);
	if (i != -1)
		via = p->candidates[i].via;
	if (p->state == PUNCH_REACHED &&
	    (via != PUNCH_VIA_PRIVATE || p->found == PUNCH_VIA_PRIVATE))
		return true;
	p->state = PUNCH_REACHED;
	p->working = *from;
	p->found = via;
	p->rtt_us = now_us - pending->sent_us;
	p->seen_as = reply->u.probe.observed;
	return true;
}

int punch_path_format(char *out, size_t size, const struct punch_path *path)
{
	char key[AVPN_KEY_BASE64_LEN + 1];
	char ep[ENDPOINT_STRLEN];
	char subnets[AVPN_MAX_SUBNETS * (SUBNET_STRLEN + 1)];

	key_to_base64(key, path->public_key);
	endpoint_format(ep, &path->endpoint);
	subnet_list_format(subnets, sizeof(subnets), &path->subnets);
	return snprintf(out, size, "%s\t%s\t%s\t%u\t%llu.%03llu\t%s\t%s\n",
			key, path->name, ep, (unsigned int)path->local_port,
			(unsigned long long)(path->rtt_us / 1000),
			(unsigned long long)(path->rtt_us % 1000),
			punch_via_name(path->via), subnets);
}

/* Parses "MILLISECONDS.MMM" into microseconds. */
static int punch_rtt_parse(uint64_t *rtt_us, const char *s,
			   struct avpn_error *err)
{
	const char *dot = strchr(s, '.');
	char whole[16];
	const char *errstr;
	long long ms, frac = 0;

	if (dot == NULL || (size_t)(dot - s) >= sizeof(whole) ||
	    strlen(dot + 1) != 3)
		return error_set(err, "invalid round-trip time \"%s\": "
				 "expected milliseconds such as 12.345", s);
	memcpy(whole, s, (size_t)(dot - s));
	whole[dot - s] = '\0';
	ms = strtonum(whole, 0, 3600000, &errstr);
	if (errstr == NULL && dot[1] >= '0' && dot[1] <= '9')
		frac = strtonum(dot + 1, 0, 999, &errstr);
	else
		errstr = "invalid";
	if (errstr != NULL || whole[0] == '\0')
		return error_set(err, "invalid round-trip time \"%s\": "
				 "expected milliseconds such as 12.345", s);
	*rtt_us = (uint64_t)ms * 1000 + (uint64_t)frac;
	return 0;
}

/* Parses the fields after the name: endpoint, port, rtt, kind, subnets. */
static int punch_path_parse_rest(struct punch_path *path, char **f,
				 struct avpn_error *err)
{
	struct avpn_error e;

	if (endpoint_parse(&path->endpoint, f[2], 0, &e) == -1 ||
	    endpoint_check_unicast(&path->endpoint, &e) == -1)
		return error_set(err, "endpoint: %s", e.text);
	if (port_parse(&path->local_port, f[3], &e) == -1)
		return error_set(err, "local port: %s", e.text);
	if (punch_rtt_parse(&path->rtt_us, f[4], err) == -1)
		return -1;
	if (punch_via_parse(&path->via, f[5], err) == -1)
		return -1;
	if (subnet_list_parse(&path->subnets, f[6], &e) == -1)
		return error_set(err, "subnets: %s", e.text);
	return 0;
}

int punch_path_parse(struct punch_path *path, const char *line,
		     struct avpn_error *err)
{
	char buf[1024];
	char *f[PUNCH_PATH_FIELDS];
	struct avpn_error e;
	int n;

	memset(path, 0, sizeof(*path));
	if (strlcpy(buf, line, sizeof(buf)) >= sizeof(buf))
		return error_set(err, "path line too long");
	n = fields_split(buf, f, PUNCH_PATH_FIELDS);
	if (n != PUNCH_PATH_FIELDS)
		return error_set(err, "path line has %s fields: expected %d",
				 n == -1 ? "too many" : "too few",
				 PUNCH_PATH_FIELDS);
	if (key_from_base64(path->public_key, f[0], strlen(f[0]), &e) == -1)
		return error_set(err, "public key: %s", e.text);
	if (name_check(f[1], &e) == -1)
		return error_set(err, "name: %s", e.text);
	strlcpy(path->name, f[1], sizeof(path->name));
	return punch_path_parse_rest(path, f, err);
}

void punch_path_from_peer(struct punch_path *path, const struct punch_peer *p,
			  uint16_t local_port)
{
	memset(path, 0, sizeof(*path));
	memcpy(path->public_key, p->public_key, AVPN_KEY_LEN);
	strlcpy(path->name, p->name, sizeof(path->name));
	path->endpoint = p->working;
	path->local_port = local_port;
	path->rtt_us = p->rtt_us;
	path->via = p->found;
	path->subnets = p->subnets;
}
