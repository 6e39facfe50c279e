/* auth_key.c — what every process agrees on about API keys: how a request
 * presents one (x-api-key, else Authorization: Bearer) and the roles (read <
 * write < admin); core.h has the statement that looks a key up.
 * incidentd, incidentd-sse and incidentctl all use it; it touches no request,
 * database or process. */
#include "core.h"

#include <string.h>
#include <strings.h>

/* The key a request presents: x-api-key, else Authorization: Bearer; NULL
 * when it carries none.  Shared with incidentd-sse, which has other headers. */
const char *
auth_presented_key(const char *x_api_key, const char *authorization)
{
	if (x_api_key != NULL && *x_api_key != '\0')
		return x_api_key;
	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return NULL;
	for (authorization += 7; *authorization == ' '; authorization++)
		;
	return *authorization != '\0' ? authorization : NULL;
}

static const char *const role_names[] = {"none", "read", "write", "admin"};

int
role_parse(const char *s, enum role *out)
{
	int i;

	for (i = ROLE_READ; i <= ROLE_ADMIN; i++) {
		if (strcmp(s, role_names[i]) == 0) {
			*out = (enum role)i;
			return 0;
		}
	}
	return -1;
}

const char *
role_name(enum role r)
{
	return role_names[r];
}
