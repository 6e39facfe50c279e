/* dialect.c — what every dialect shares: its ids in URLs, its words for
 * stored values, and the one renderer that walks a dialect's output table.
 * The tables themselves are in dialect_v1.c, dialect_alert24.c and
 * dialect_statly.c. */
#include "api.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct dialect *const dialects[] = {&dialect_v1, &dialect_alert24, &dialect_statly};

const struct dialect *
dialect_named(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++)
		if (strcmp(dialects[i]->name, name) == 0)
			return dialects[i];
	return NULL;
}

/* An incident number: digits without a leading zero, at most 2^53 (exact
 * in a JSON number). */
static int
parse_number(const char *seg, size_t len, int64_t *out)
{
	char tmp[24];
	size_t i;

	if (len == 0 || len >= 17 || seg[0] == '0')
		return 0;
	for (i = 0; i < len; i++)
		if (seg[i] < '0' || seg[i] > '9')
			return 0;
	memcpy(tmp, seg, len);
	tmp[len] = '\0';
	return parse_int64(tmp, 1, (int64_t)1 << 53, out) == 0;
}

static int
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The 8-4-4-4-12 form only, any case; stored lower case. */
int
dialect_parse_uuid(const char *seg, size_t len, char out[40])
{
	size_t i;

	if (len != 36)
		return 0;
	for (i = 0; i < len; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? seg[i] != '-' : !is_hex(seg[i]))
			return 0;
		out[i] = (char)(seg[i] >= 'A' && seg[i] <= 'F' ? seg[i] - 'A' + 'a' : seg[i]);
	}
	out[len] = '\0';
	return 1;
}

int
dialect_parse_ref(const struct dialect *d, const char *seg, size_t len,
                  struct route_params *params)
{
	size_t plen = d->ref_prefix != NULL ? strlen(d->ref_prefix) : 0;
	int ok = parse_number(seg, len, &params->id);

	if (!ok && d->ref == REF_UUID_OR_NUMBER)
		ok = dialect_parse_uuid(seg, len, params->uuid);
	if (!ok && d->ref == REF_PREFIXED_OR_NUMBER && len > plen &&
	    memcmp(seg, d->ref_prefix, plen) == 0)
		ok = parse_number(seg + plen, len - plen, &params->id);
	if (!ok || len >= sizeof(params->ref))
		return 0;
	memcpy(params->ref, seg, len);
	params->ref[len] = '\0';
	return 1;
}

char *
dialect_ref(const struct dialect *d, const struct incident *inc)
{
	switch (d->ref) {
	case REF_UUID_OR_NUMBER: return xstrdup(inc->uuid);
	case REF_PREFIXED_OR_NUMBER: return xprintf("%s%lld", d->ref_prefix, (long long)inc->id);
	case REF_NUMBER: break;
	}
	return xprintf("%lld", (long long)inc->id);
}

const char *
enum_map_word(const struct enum_map *map, const char *value)
{
	size_t i;

	if (map == NULL || value == NULL)
		return value;
	for (i = 0; map[i].word != NULL; i++)
		if (strcmp(map[i].value, value) == 0)
			return map[i].word;
	return value;
}

const char *
dialect_status_word(const struct dialect *d, const char *status)
{
	return enum_map_word(d->status_words, status);
}

static void
render_time(yajl_gen g, const struct dialect *d, int64_t t)
{
	char text[TIME_MILLIS_TEXT_LEN];

	if (d->times == TIME_SECONDS || t == TIME_NONE) {
		jgen_time(g, t);
		return;
	}
	time_format_millis(t, text);
	jgen_str(g, text);
}

static int64_t
row_incident(const PGresult *res, int row)
{
	return strtoll(PQgetvalue(res, row, 1), NULL, 10);
}

/* The rows of updates that belong to incident id: they are sorted by
 * incident (then oldest first), so its first row is found by bisection. */
static void
render_updates(yajl_gen g, const struct dialect *d, const struct updates_page *updates,
               int64_t id)
{
	const PGresult *res = updates != NULL ? updates->res : NULL;
	int lo = 0, hi = res != NULL ? PQntuples(res) : 0, n = hi;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (row_incident(res, mid) < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	yajl_gen_array_open(g);
	for (; lo < n && row_incident(res, lo) == id; lo++)
		d->render_update(g, d, res, lo);
	yajl_gen_array_close(g);
}

/* sla_status is live while active and frozen at resolved_at once resolved. */
static enum sla_state
incident_sla(const struct incident *inc, int64_t now)
{
	int64_t at = status_is_resolved(inc->status) && inc->resolved_at != TIME_NONE
	                 ? inc->resolved_at
	                 : now;

	return sla_state_at(inc->created_at, inc->sla_due_at, at);
}

static void
render_member(yajl_gen g, const struct dialect *d, const struct dialect_out *o,
              const struct incident *inc, const struct updates_page *updates, int64_t now,
              const struct config *cfg)
{
	const char *base = (const char *)inc + o->offset;
	char *text;

	if (o->kind == OUT_TIME_IF_SET && *(const int64_t *)base == TIME_NONE)
		return;
	jgen_key(g, o->name);
	switch (o->kind) {
	case OUT_ID: jgen_int(g, inc->id); break;
	case OUT_ID_PREFIXED:
	case OUT_UUID:
		text = dialect_ref(d, inc);
		jgen_str(g, text);
		free(text);
		break;
	case OUT_TEXT: jgen_str(g, enum_map_word(o->map, *(char *const *)base)); break;
	case OUT_NUMBER: optnum_render(g, *(const struct optnum *)base); break;
	case OUT_LIST: strlist_render(g, (const struct strlist *)base); break;
	case OUT_TIME:
	case OUT_TIME_IF_SET: render_time(g, d, *(const int64_t *)base); break;
	case OUT_SLA_BREACHED: jgen_bool(g, incident_sla(inc, now) == SLA_BREACHED); break;
	case OUT_SLA_STATUS: jgen_str(g, sla_state_name(incident_sla(inc, now))); break;
	case OUT_STATUS_URL:
		text = xprintf("%s/incidents/status/%s", cfg->public_base_url, inc->customer_token);
		jgen_str(g, text);
		free(text);
		break;
	case OUT_UPDATES: render_updates(g, d, updates, inc->id); break;
	}
}

static int
dialect_shows_sla(const struct dialect *d)
{
	const struct dialect_out *o;

	for (o = d->out; o->name != NULL; o++)
		if (o->kind == OUT_SLA_STATUS || o->kind == OUT_SLA_BREACHED)
			return 1;
	return 0;
}

/* Strong: it changes whenever the representation can, so it names the
 * dialect, the version (every change, the timeline's too) and, where the
 * dialect shows it, the SLA state, which moves with time alone. */
char *
dialect_etag(const struct dialect *d, const struct incident *inc, int64_t now)
{
	if (dialect_shows_sla(d))
		return xprintf("\"%s.%lld.%lld.%s\"", d->name, (long long)inc->id,
		               (long long)inc->version, sla_state_name(incident_sla(inc, now)));
	return xprintf("\"%s.%lld.%lld\"", d->name, (long long)inc->id, (long long)inc->version);
}

void
dialect_render(yajl_gen g, const struct dialect *d, const struct incident *inc,
               const struct updates_page *updates, int64_t now, const struct config *cfg)
{
	const struct dialect_out *o;

	yajl_gen_map_open(g);
	for (o = d->out; o->name != NULL; o++)
		render_member(g, d, o, inc, updates, now, cfg);
	yajl_gen_map_close(g);
}

void
incident_render(yajl_gen g, const struct incident *inc, int64_t now, const struct config *cfg)
{
	dialect_render(g, &dialect_v1, inc, NULL, now, cfg);
}
