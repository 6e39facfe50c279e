#!/usr/bin/perl
# The migrations on a database that already holds data, as on an old
# installation (they run in a schema of their own in this test's database).
# sql/003_compat.sql (DESIGN §8): every incident gets its own UUID, and every
# existing timeline entry records the status set by the nearest entry at or
# before it, else the incident's current status. sql/004_contract.sql: active
# incidents sharing a (source, source_ref) — allowed before — keep it on the
# newest only, the others keep the value in an internal timeline entry, so
# the unique index can exist and nothing is lost.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Basename qw(dirname);
use IncidentdTest;

my $s = IncidentdTest->new(workers => 1);
my $sql_dir = dirname(__FILE__) . '/../sql';

sub slurp {
	my ($file) = @_;
	open my $fh, '<', "$sql_dir/$file" or die "$sql_dir/$file: $!";
	local $/;
	return <$fh>;
}
sub in_schema { $s->psql("SET search_path = upgrade; $_[0]") }

$s->psql('CREATE SCHEMA upgrade');
in_schema(slurp('001_schema.sql') . slurp('002_events_by_incident.sql'));
in_schema(<<'SQL');
INSERT INTO orgs (id, name) VALUES (1, 'old');
INSERT INTO incidents (id, org_id, title, status, priority, severity, source, sla_due_at,
    customer_token, started_at, created_by, created_at, updated_at)
VALUES (1, 1, 'with a history', 'monitoring', 'normal', 'medium', 'api', now(), 't1', now(), 'k', now(), now()),
       (2, 1, 'never changed', 'open', 'normal', 'medium', 'api', now(), 't2', now(), 'k', now(), now());
INSERT INTO replies (id, incident_id, org_id, body, status, author, created_at) VALUES
    (1, 1, 1, 'first words', NULL, 'k', now()),
    (2, 1, 1, NULL, 'identified', 'k', now()),
    (3, 1, 1, 'found it', NULL, 'k', now()),
    (4, 1, 1, 'watching', 'monitoring', 'k', now()),
    (5, 1, 1, 'still watching', NULL, 'k', now()),
    (6, 2, 1, 'a note', NULL, 'k', now());
SELECT setval('replies_id_seq', 100), setval('incidents_id_seq', 100);
SQL
in_schema(slurp('003_compat.sql'));

is(in_schema('SELECT id, incident_status FROM replies ORDER BY id'),
   "1|monitoring\n2|identified\n3|identified\n4|monitoring\n5|monitoring\n6|open\n",
   'each entry: the status of the nearest entry at or before it that set one, else the incident\'s');
is(in_schema('SELECT count(DISTINCT uuid), count(*) FILTER (WHERE uuid IS NULL) FROM incidents'),
   "2|0\n", 'each existing incident has its own UUID');
like(in_schema("SELECT uuid::text FROM incidents WHERE id = 1"),
     qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a random (v4) UUID');
ok(!eval { in_schema("INSERT INTO replies (incident_id, org_id, author, created_at) VALUES (1, 1, 'k', now())"); 1 },
   'a timeline entry without its incident status is refused');
ok(!eval { in_schema("UPDATE incidents SET uuid = (SELECT uuid FROM incidents WHERE id = 1) WHERE id = 2"); 1 },
   'UUIDs are unique');

# --- 004: duplicates among active incidents ---------------------------------------------
in_schema(<<'SQL');
INSERT INTO incidents (id, org_id, title, status, priority, severity, source, source_ref, sla_due_at,
    customer_token, started_at, created_by, created_at, updated_at)
VALUES (10, 1, 'first', 'open', 'normal', 'medium', 'alert', 'cpu', now(), 't10', now(), 'k', now() - interval '2 hours', now()),
       (11, 1, 'second', 'acknowledged', 'normal', 'medium', 'alert', 'cpu', now(), 't11', now(), 'k', now() - interval '1 hour', now()),
       (12, 1, 'newest', 'open', 'normal', 'medium', 'alert', 'cpu', now(), 't12', now(), 'k', now(), now()),
       (13, 1, 'resolved one', 'resolved', 'normal', 'medium', 'alert', 'cpu', now(), 't13', now(), 'k', now(), now()),
       (14, 1, 'other source', 'open', 'normal', 'medium', 'webhook', 'cpu', now(), 't14', now(), 'k', now(), now());
SQL
in_schema(slurp('004_contract.sql'));
is(in_schema('SELECT id, coalesce(source_ref, \'-\'), version FROM incidents WHERE id >= 10 ORDER BY id'),
   "10|-|2\n11|-|2\n12|cpu|1\n13|cpu|1\n14|cpu|1\n",
   '004: the newest active incident keeps its source_ref; older active ones give it up (a new version)');
is(in_schema("SELECT incident_id, internal, body FROM replies WHERE author = 'incidentd' ORDER BY incident_id"),
   "10|t|source_ref \"cpu\" moved to incident 12: one active incident per source and source_ref (migration 004)\n"
   . "11|t|source_ref \"cpu\" moved to incident 12: one active incident per source and source_ref (migration 004)\n",
   '004: ... and keep the value in an internal timeline entry');
ok(!eval { in_schema("UPDATE incidents SET status = 'open' WHERE id = 13"); 1 },
   '004: the index holds: a second active incident with the same source and source_ref is refused');

$s->finish;
done_testing;
