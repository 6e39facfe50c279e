/* status_word.c — an incident status as customers read it: the public page,
 * its script and the Atom feed say "In progress", never "in_progress". */
#include "api.h"

#include <string.h>

static const struct {
	const char *status, *word;
} words[] = {
    {"new", "New"},
    {"open", "Open"},
    {"acknowledged", "Acknowledged"},
    {"in_progress", "In progress"},
    {"investigating", "Investigating"},
    {"identified", "Identified"},
    {"monitoring", "Monitoring"},
    {"resolved", "Resolved"},
    {"postmortem", "Postmortem"},
    {"closed", "Closed"},
};

/* The word for a status; a status this table does not know reads as itself. */
const char *
status_word(const char *status)
{
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(words[i].status, status) == 0)
			return words[i].word;
	return status;
}
