#!/usr/bin/perl
# sql/003_compat.sql on a database that already holds incidents and
# timelines (DESIGN §8): every incident gets its own UUID, and every existing
# timeline entry records the status set by the nearest entry at or before
# it, else the incident's current status. The migrations run in a schema of
# their own in this test's database, as they would on an old installation.
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

$s->finish;
done_testing;
