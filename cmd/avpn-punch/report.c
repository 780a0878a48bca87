/* The output of avpn-punch: path lines, reasons for failures, exit status. */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avpn.h"
#include "log.h"
#include "run.h"

#define REASON_MAX 512

/*
 * True when the NAT types leave no direct path.  A NAT with
 * endpoint-dependent mapping gives the probes to a peer a port other than
 * the one the registry saw.  The far side accepts packets from that port
 * only if it has no NAT, a port forward, or endpoint-independent filtering,
 * which Linux masquerade does not have.
 */
bool report_impossible(const struct run *r, const struct peer_entry *pe)
{
	enum nat_type ours = r->self.nat, theirs = pe->punch.nat;

	if (endpoint_is_set(&r->self.override) || pe->has_override)
		return false;
	if (ours == NAT_NONE || theirs == NAT_NONE ||
	    ours == NAT_UNKNOWN || theirs == NAT_UNKNOWN)
		return false;
	return ours == NAT_DEPENDENT || theirs == NAT_DEPENDENT;
}

static void report_nat_reason(const struct run *r,
			      const struct peer_entry *pe, char *out,
			      size_t size)
{
	char ours[ENDPOINT_STRLEN], theirs[ENDPOINT_STRLEN];
	const char *name = pe->punch.name;

	endpoint_format(ours, &r->self.observed);
	endpoint_format(theirs, &pe->public_ep);
	if (r->self.nat == NAT_DEPENDENT && pe->punch.nat == NAT_DEPENDENT)
		snprintf(out, size, "no direct path: our NAT (seen as %s) and "
			 "%s's NAT (seen as %s) both have endpoint-dependent "
			 "mapping; a port forward on either side (avpn-register"
			 " -e) or a relay is needed", ours, name, theirs);
	else if (pe->punch.nat == NAT_DEPENDENT)
		snprintf(out, size, "no direct path: %s's NAT (seen as %s) has"
			 " endpoint-dependent mapping and our NAT (seen as %s)"
			 " filters by endpoint; a port forward on either side "
			 "(avpn-register -e) is needed", name, theirs, ours);
	else
		snprintf(out, size, "no direct path: our NAT (seen as %s) has "
			 "endpoint-dependent mapping and %s's NAT (seen as %s)"
			 " filters by endpoint; a port forward on either side "
			 "(avpn-register -e) is needed", ours, name, theirs);
}

/* Lists the candidates probed, comma-separated. */
static void report_candidates(const struct punch_peer *p, char *out,
			      size_t size)
{
	char text[ENDPOINT_STRLEN];
	size_t i;

	out[0] = '\0';
	for (i = 0; i < p->candidate_count; i++) {
		endpoint_format(text, &p->candidates[i].ep);
		if (i > 0)
			strlcat(out, ", ", size);
		strlcat(out, text, size);
	}
	if (p->candidate_count == 0)
		strlcpy(out, "no endpoint", size);
}

static void report_probe_reason(const struct run *r,
				const struct peer_entry *pe, char *out,
				size_t size)
{
	const struct punch_peer *p = &pe->punch;
	char list[REASON_MAX / 2];

	report_candidates(p, list, sizeof(list));
	if (r->wait && p->probes_sent == 0)
		snprintf(out, size, "no probe or punch request arrived");
	else if (p->probes_received > 0)
		snprintf(out, size, "%u probes from %s arrived but none of our "
			 "%u probes to %s was answered", p->probes_received,
			 p->name, p->probes_sent, list);
	else
		snprintf(out, size, "no answer to %u probes to %s",
			 p->probes_sent, list);
	/* Low-TTL probes with the default TTL 2 open only the inner NAT of
	 * a node behind two, and that is the one case the NAT types do not
	 * show. */
	if (p->probes_received == 0 && r->self.nat != NAT_NONE &&
	    p->nat != NAT_NONE && p->nat != NAT_DEPENDENT)
		strlcat(out, "; a node behind two NATs needs -L 3", size);
}

static void report_reason(const struct run *r, const struct peer_entry *pe,
			  char *out, size_t size)
{
	if (pe->request == REQUEST_REJECTED) {
		snprintf(out, size, "the registry did not forward the punch "
			 "request: %s", proto_error_name(pe->error_code));
		return;
	}
	if (report_impossible(r, pe))
		report_nat_reason(r, pe, out, size);
	else
		report_probe_reason(r, pe, out, size);
	if (pe->request == REQUEST_SENT)
		strlcat(out, "; the registry did not acknowledge the punch "
			"request", size);
}

void report_unreachable(const struct run *r)
{
	char reason[REASON_MAX];
	const struct peer_entry *pe;
	size_t i;

	for (i = 0; i < r->peer_count; i++) {
		pe = &r->peers[i];
		if (pe->punch.state == PUNCH_REACHED ||
		    (!pe->listed && pe->punch.state == PUNCH_IDLE))
			continue;
		report_reason(r, pe, reason, sizeof(reason));
		warnx("%s: unreachable: %s", pe->punch.name, reason);
	}
}

int report_paths(const struct run *r, const char *out_path)
{
	char *data = NULL, line[1024];
	size_t len = 0, size = 0;
	struct punch_path path;
	struct avpn_error e;
	uint16_t port = endpoint_port(&r->self.local);
	int n, status;

	for (size_t i = 0; i < r->peer_count; i++) {
		if (r->peers[i].punch.state != PUNCH_REACHED)
			continue;
		punch_path_from_peer(&path, &r->peers[i].punch, port);
		n = punch_path_format(line, sizeof(line), &path);
		if (n < 0 || (size_t)n >= sizeof(line))
			continue;
		if (len + (size_t)n + 1 > size) {
			size = (len + (size_t)n + 1) * 2;
			data = realloc(data, size);
			if (data == NULL)
				err(AVPN_EXIT_FAILURE, "realloc");
		}
		memcpy(data + len, line, (size_t)n + 1);
		len += (size_t)n;
	}
	status = state_write_atomic(out_path, data ? data : "", len, 0644, &e);
	if (status == -1)
		warnx("%s", e.text);
	free(data);
	return status;
}

/* 0 when every listed peer was reached, AVPN_EXIT_PARTIAL for some and
 * AVPN_EXIT_NO_ANSWER for none.  With no peers listed, -w counts the
 * peers that punched. */
int report_exit_status(const struct run *r)
{
	size_t i, counted = 0, reached = 0;
	bool all = r->wait;

	for (i = 0; i < r->peer_count; i++)
		if (r->peers[i].listed)
			all = false;
	for (i = 0; i < r->peer_count; i++) {
		if (!r->peers[i].listed && !all)
			continue;
		counted++;
		if (r->peers[i].punch.state == PUNCH_REACHED)
			reached++;
	}
	if (counted == 0)
		return r->wait ? AVPN_EXIT_NO_ANSWER : AVPN_EXIT_OK;
	if (reached == counted)
		return AVPN_EXIT_OK;
	return reached == 0 ? AVPN_EXIT_NO_ANSWER : AVPN_EXIT_PARTIAL;
}
