/* sla.c — SLA maths and status phases (DESIGN §4). */
#include "api.h"

#include <string.h>

static const char *const priority_names[PRIORITY_COUNT] = {"low", "normal", "high", "urgent"};

int
priority_parse(const char *s, enum priority *out)
{
	int i;

	for (i = 0; i < PRIORITY_COUNT; i++) {
		if (strcmp(s, priority_names[i]) == 0) {
			*out = (enum priority)i;
			return 0;
		}
	}
	return -1;
}

int64_t
sla_due_at(int64_t created_at, enum priority p, const struct config *cfg)
{
	return created_at + cfg->sla_target[p];
}

/* ok before 75 % of the window, warning from there up to and including the
 * due time, breached after it. */
enum sla_state
sla_state_at(int64_t created_at, int64_t due_at, int64_t at)
{
	int64_t window = due_at - created_at;

	if (at > due_at)
		return SLA_BREACHED;
	/* 4 * elapsed >= 3 * window, in integers: no rounding at the boundary */
	if (window <= 0 || 4 * (at - created_at) >= 3 * window)
		return SLA_WARNING;
	return SLA_OK;
}

const char *
sla_state_name(enum sla_state s)
{
	static const char *const names[] = {"ok", "warning", "breached"};
	return names[s];
}

int
status_is_resolved(const char *status)
{
	return strcmp(status, "resolved") == 0 || strcmp(status, "postmortem") == 0 ||
	       strcmp(status, "closed") == 0;
}

/* An active status past triage: entering one sets acknowledged_at. */
int
status_is_acknowledging(const char *status)
{
	return !status_is_resolved(status) && strcmp(status, "new") != 0 &&
	       strcmp(status, "open") != 0;
}
