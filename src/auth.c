/* auth.c — API keys: x-api-key or Authorization: Bearer, looked up by the
 * SHA-256 of the key; roles read < write < admin. */
#include "api.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KEY_MAX 256

int
auth_authenticate(struct request *req, enum role needed)
{
	const char *key = auth_presented_key(request_param(req, "HTTP_X_API_KEY"),
	                                     request_param(req, "HTTP_AUTHORIZATION"));
	char hash[65];
	const char *params[1] = {hash};
	PGresult *res;
	enum role role;

	if (key == NULL) {
		request_fail(req, 401, "missing_authorization_material",
		             "No authorization material provided in request");
		return -1;
	}
	if (strlen(key) > KEY_MAX || sha256_hex(key, strlen(key), hash) != 0) {
		request_fail(req, 401, "invalid_api_key", "The API key is not valid");
		return -1;
	}
	res = db_exec(req->worker->db, STMT_AUTH_KEY, 1, params);
	if (res == NULL) {
		request_fail_db(req);
		return -1;
	}
	if (PQntuples(res) != 1 || role_parse(PQgetvalue(res, 0, 2), &role) != 0) {
		PQclear(res);
		request_fail(req, 401, "invalid_api_key", "The API key is not valid or was revoked");
		return -1;
	}
	req->auth.key_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	req->auth.org_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	req->auth.role = role;
	req->auth.key_name = xstrdup(PQgetvalue(res, 0, 3));
	PQclear(res);
	if (role < needed) {
		request_fail(req, 403, "insufficient_role", "This needs an API key with the %s role",
		             role_name(needed));
		return -1;
	}
	return 0;
}

void
auth_clear(struct auth *a)
{
	free(a->key_name);
	memset(a, 0, sizeof(*a));
}
