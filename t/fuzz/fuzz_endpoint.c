/* libFuzzer target for endpoint_parse and subnet_list_parse: what parses
 * must format to text that parses to the same value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "subnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_endpoint(const char *s)
{
	char text[ENDPOINT_STRLEN];
	union endpoint ep, again;

	if (endpoint_parse(&ep, s, 9350, NULL) == -1)
		return;
	endpoint_format(text, &ep);
	if (endpoint_parse(&again, text, 0, NULL) == -1 ||
	    !endpoint_equal(&ep, &again))
		abort();
}

static void check_subnets(const char *s)
{
	struct subnet_list list, again;
	char text[AVPN_MAX_SUBNETS * (SUBNET_STRLEN + 1)];
	int n;

	memset(&list, 0, sizeof(list));
	if (subnet_list_parse(&list, s, NULL) == -1)
		return;
	n = subnet_list_format(text, sizeof(text), &list);
	if (n < 0 || (size_t)n >= sizeof(text))
		abort();
	memset(&again, 0, sizeof(again));
	if (subnet_list_parse(&again, text, NULL) == -1 ||
	    again.count != list.count ||
	    memcmp(again.nets, list.nets,
		   list.count * sizeof(list.nets[0])) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_endpoint(s);
	check_subnets(s);
	free(s);
	return 0;
}
