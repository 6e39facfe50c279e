#!/usr/bin/env perl
# incidentd-hooks's work per event stays bounded however many delivery rows
# have piled up: it looks earlier attempts up by the primary key, never by
# scanning webhook_deliveries (which holds a row per event per subscription,
# every subscription's, for as long as the log is kept). PostgreSQL's own
# auto_explain logs the plan of every statement incidentd-hooks runs.
use strict;
use warnings;
use Test::More;

use lib 't/lib';
use IncidentdTest;
use HookReceiver;
use HookCheck;

my $s = IncidentdTest->new(own_postgres => 1);
my $rx = HookReceiver->new(dir => $s->dir);
my $W = $s->key('write');

# Every new session of this database logs each statement's plan.
my $db = $s->psql('SELECT current_database()');
chomp $db;
$s->psql("ALTER DATABASE \"$db\" SET session_preload_libraries = 'auto_explain'");
$s->psql("ALTER DATABASE \"$db\" SET auto_explain.log_min_duration = 0");
$s->kill_hooks; # its next sessions load it

my $hook = new_hook($s, $rx->url('/bounded'));
my $other = new_hook($s, $rx->url('/other'));
# Rows of earlier deliveries, this subscription's and another's, ahead of
# and behind what is about to be sent: enough that a scan costs more than
# the index to the planner.
my $seq = $s->psql('SELECT event_seq FROM orgs WHERE id = ' . $s->org_id) + 0;
for my $id ($hook->{id}, $other->{id}) {
	$s->psql("INSERT INTO webhook_deliveries (webhook_id, seq, event, attempts, "
		. "first_attempt_at, delivered_at) SELECT '$id'::uuid, g, 'incident.updated', 1, now(), now() "
		. "FROM generate_series(1, $seq) g UNION ALL "
		. "SELECT '$id'::uuid, g, 'incident.updated', 1, now(), NULL "
		. "FROM generate_series($seq + 1000, $seq + 20000) g");
}
$s->psql('ANALYZE webhook_deliveries');

for my $n (1 .. 3) {
	my $r = $s->req(POST => '/v1/tickets', key => $W, body => { title => "bounded $n" });
	is($r->{status}, 201, "create $n") or diag($r->{content});
}
my @got = $rx->wait_for(sub { @{ $_[0] } >= 3 }, 'three deliveries', path => '/bounded');
is(scalar @got, 3, 'the three events delivered');
$s->_poll('the cursor to be stored', sub { hook_row($s, $hook->{id})->{cursor_seq} == $seq + 3 });

my $log = $s->_slurp($s->dir . '/postgres.log');
my @plans = grep { /Query Text: .*webhook_deliveries/ } split /\n(?=\S.*LOG:)/, $log;
ok((grep { /Query Text: .*(?:FROM webhook_deliveries WHERE webhook_id|LEFT JOIN webhook_deliveries)/ } @plans),
	'the look-up of earlier attempts was logged');
ok((grep { /Query Text: .*INSERT INTO webhook_deliveries/ } @plans),
	'and the writes of delivery rows');
my @scans = grep { /Seq Scan on webhook_deliveries/ } @plans;
is(scalar @scans, 0, 'no statement scans webhook_deliveries') or diag($scans[0]);
# An index read by webhook_id alone reads every row the subscription has.
my @unbounded = grep {
	my @conds = /(?:Index|Index Only|Bitmap Index) Scan(?: Backward)? (?:using|on) webhook_deliveries\w*[^\n]*\n\s*(?:->\s*)?Index Cond: ([^\n]*)/g;
	grep { !/\bseq\b/ } @conds;
} @plans;
is(scalar @unbounded, 0, 'each index read is bounded by seq too') or diag($unbounded[0]);

$s->finish;
done_testing;
