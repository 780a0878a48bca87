/* libFuzzer target for self_record_parse and peer_record_parse: a record
 * that parses must format to a line that parses to the same text again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

#define LINE_MAX_FUZZ 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_self(const char *line)
{
	struct self_record rec, again;
	char out[LINE_MAX_FUZZ], out2[LINE_MAX_FUZZ];
	int n;

	if (self_record_parse(&rec, line, NULL) == -1)
		return;
	n = self_record_format(out, sizeof(out), &rec);
	if (n <= 0 || (size_t)n >= sizeof(out))
		abort();
	out[n - 1] = '\0';
	if (self_record_parse(&again, out, NULL) == -1)
		abort();
	self_record_format(out2, sizeof(out2), &again);
	out2[n - 1] = '\0';
	if (strcmp(out, out2) != 0)
		abort();
}

static void check_peer(const char *line)
{
	struct peer_record rec, again;
	char out[LINE_MAX_FUZZ], out2[LINE_MAX_FUZZ];
	int n;

	if (peer_record_parse(&rec, line, NULL) == -1)
		return;
	n = peer_record_format(out, sizeof(out), &rec);
	if (n <= 0 || (size_t)n >= sizeof(out))
		abort();
	out[n - 1] = '\0';
	if (peer_record_parse(&again, out, NULL) == -1)
		abort();
	peer_record_format(out2, sizeof(out2), &again);
	out2[n - 1] = '\0';
	if (strcmp(out, out2) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line;

	/* The parsers take a C string, as a line from getline is. */
	line = malloc(size + 1);
	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	check_self(line);
	check_peer(line);
	free(line);
	return 0;
}
