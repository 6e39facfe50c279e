/* test_sla.c — SLA due times and states, status phases, priority names. */
#include "tap.h"

#include <string.h>

#define T0 1773558000
#define HOUR 3600

static void
test_due(void)
{
	struct config cfg;
	char err[256];

	config_defaults(&cfg);
	is_int(sla_due_at(T0, PRIORITY_URGENT, &cfg), T0 + HOUR, "urgent: 1h by default");
	is_int(sla_due_at(T0, PRIORITY_HIGH, &cfg), T0 + 4 * HOUR, "high: 4h by default");
	is_int(sla_due_at(T0, PRIORITY_NORMAL, &cfg), T0 + 24 * HOUR, "normal: 24h by default");
	is_int(sla_due_at(T0, PRIORITY_LOW, &cfg), T0 + 72 * HOUR, "low: 72h by default");
	ok(config_set(&cfg, "sla_urgent", "30m", err, sizeof(err)) == 0 &&
	       config_set(&cfg, "sla_high", "90", err, sizeof(err)) == 0 &&
	       config_set(&cfg, "sla_normal", "2h", err, sizeof(err)) == 0 &&
	       config_set(&cfg, "sla_low", "7d", err, sizeof(err)) == 0,
	   "custom targets set");
	is_int(sla_due_at(T0, PRIORITY_URGENT, &cfg), T0 + 1800, "urgent: custom 30m");
	is_int(sla_due_at(T0, PRIORITY_HIGH, &cfg), T0 + 90, "high: custom 90 s");
	is_int(sla_due_at(T0, PRIORITY_NORMAL, &cfg), T0 + 2 * HOUR, "normal: custom 2h");
	is_int(sla_due_at(T0, PRIORITY_LOW, &cfg), T0 + 7 * 24 * HOUR, "low: custom 7d");
	config_free(&cfg);
}

static void
state_is(int64_t created, int64_t due, int64_t at, enum sla_state expected, const char *desc)
{
	enum sla_state s = sla_state_at(created, due, at);

	is_str(sla_state_name(s), sla_state_name(expected), "%s", desc);
}

static void
test_states(void)
{
	int64_t due = T0 + HOUR; /* 75 % of one hour is 45 minutes */

	state_is(T0, due, T0, SLA_OK, "at creation: ok");
	state_is(T0, due, T0 - 100, SLA_OK, "before creation (a backdated clock): ok");
	state_is(T0, due, T0 + 2699, SLA_OK, "1 s before 75 %: ok");
	state_is(T0, due, T0 + 2700, SLA_WARNING, "exactly 75 %: warning");
	state_is(T0, due, T0 + 3599, SLA_WARNING, "1 s before due: warning");
	state_is(T0, due, due, SLA_WARNING, "at due: warning, not yet breached");
	state_is(T0, due, due + 1, SLA_BREACHED, "due + 1: breached");
	state_is(T0, due, due + 365 * 24 * HOUR, SLA_BREACHED, "a year late: breached");
	state_is(0, 10, 7, SLA_OK, "window 10: 7 s is below 7.5");
	state_is(0, 10, 8, SLA_WARNING, "window 10: 8 s is past 7.5");
	state_is(T0, T0, T0, SLA_WARNING, "zero window, at due: warning");
	state_is(T0, T0, T0 + 1, SLA_BREACHED, "zero window, after due: breached");
	state_is(T0, T0 + 400 * 24 * HOUR, T0 + 300 * 24 * HOUR, SLA_WARNING,
	         "long window: exactly 75 % without overflow");
	is_str(sla_state_name(SLA_OK), "ok", "name ok");
	is_str(sla_state_name(SLA_WARNING), "warning", "name warning");
	is_str(sla_state_name(SLA_BREACHED), "breached", "name breached");
}

static void
test_statuses(void)
{
	static const struct {
		const char *status;
		int resolved, acknowledging;
	} cases[] = {
		{"new", 0, 0},           {"open", 0, 0},       {"acknowledged", 0, 1},
		{"in_progress", 0, 1},   {"investigating", 0, 1}, {"identified", 0, 1},
		{"monitoring", 0, 1},    {"resolved", 1, 0},   {"postmortem", 1, 0},
		{"closed", 1, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		is_str(incident_statuses[i], cases[i].status, "status %zu is %s", i, cases[i].status);
		is_int(status_is_resolved(cases[i].status), cases[i].resolved, "%s resolved phase",
		       cases[i].status);
		is_int(status_is_acknowledging(cases[i].status), cases[i].acknowledging,
		       "%s acknowledging", cases[i].status);
	}
	ok(incident_statuses[i] == NULL, "exactly ten statuses");
}

static void
test_priorities(void)
{
	static const struct {
		const char *name;
		enum priority p;
	} cases[] = {
		{"low", PRIORITY_LOW},
		{"normal", PRIORITY_NORMAL},
		{"high", PRIORITY_HIGH},
		{"urgent", PRIORITY_URGENT},
	};
	enum priority p;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = PRIORITY_COUNT;
		ok(priority_parse(cases[i].name, &p) == 0 && p == cases[i].p, "priority %s",
		   cases[i].name);
	}
	p = PRIORITY_LOW;
	ok(priority_parse("URGENT", &p) == -1, "priority names are case-sensitive");
	ok(priority_parse("", &p) == -1, "empty priority");
	ok(priority_parse("critical", &p) == -1, "critical is a severity, not a priority");
	ok(priority_parse("urgent ", &p) == -1 && p == PRIORITY_LOW, "no trimming; *out untouched");
}

void
test_sla(void)
{
	test_due();
	test_states();
	test_statuses();
	test_priorities();
}
