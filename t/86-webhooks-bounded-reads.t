#!/usr/bin/env perl
# incidentd-hooks's work per event, and a page of the deliveries list, stay
# bounded however many deliveries have piled up: they read earlier attempts
# and runs by the primary keys, never by scanning webhook_deliveries or
# webhook_delivery_runs (which hold every subscription's deliveries for as
# long as the log is kept). PostgreSQL's own auto_explain logs the plan of
# every statement incidentd-hooks and the API's workers run.
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
$s->kill_worker(pid => $_) for $s->worker_pids; # and the API's

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
	delivered_runs($s, $id, $seq + 20001, $seq + 40000, size => 10);
}
$s->psql('ANALYZE webhook_deliveries');
$s->psql('ANALYZE webhook_delivery_runs');

for my $n (1 .. 3) {
	my $r = $s->req(POST => '/v1/tickets', key => $W, body => { title => "bounded $n" });
	is($r->{status}, 201, "create $n") or diag($r->{content});
}
my @got = $rx->wait_for(sub { @{ $_[0] } >= 3 }, 'three deliveries', path => '/bounded');
is(scalar @got, 3, 'the three events delivered');
$s->_poll('the cursor to be stored', sub { hook_row($s, $hook->{id})->{cursor_seq} == $seq + 3 });

# Two pages of the deliveries list: the newest, then the next.
my $page = $s->req(GET => "/v1/webhooks/$hook->{id}/deliveries?limit=5", key => $s->key('admin'));
is($page->{status}, 200, 'the first page of deliveries') or diag($page->{content});
is($page->{json}{deliveries}[0]{seq}, $seq + 40000, '... newest first: a run\'s last');
$page = $s->req(GET => "/v1/webhooks/$hook->{id}/deliveries?limit=5&after=$page->{json}{next_cursor}",
	key => $s->key('admin'));
is($page->{status}, 200, 'the next page') or diag($page->{content});
is($page->{json}{deliveries}[0]{seq}, $seq + 39995, '... goes on where the first ended');

my $log = $s->_slurp($s->dir . '/postgres.log');
my @plans = grep { /Query Text: .*webhook_deliver/ } split /\n(?=\S.*LOG:)/, $log;
ok((grep { /Query Text: .*(?:FROM webhook_deliveries WHERE webhook_id|LEFT JOIN webhook_deliveries)/ } @plans),
	'the look-up of earlier attempts was logged');
ok((grep { /Query Text: .*INSERT INTO webhook_deliveries/ } @plans),
	'and the writes of delivery rows');
ok((grep { /Query Text: .*INSERT INTO webhook_delivery_runs/ } @plans), 'and of runs');
ok((grep { /Query Text: .*ORDER BY first_seq DESC LIMIT \$3/ } @plans), 'and the first page of the list');
ok((grep { /Query Text: .*ORDER BY first_seq DESC LIMIT \$4/ } @plans), 'and the next');
my @scans = grep { /Seq Scan on webhook_deliver/ } @plans;
is(scalar @scans, 0, 'no statement scans webhook_deliveries or webhook_delivery_runs') or diag($scans[0]);
# An index read by webhook_id alone reads every row the subscription has,
# unless it is read newest first under a LIMIT.
my @unbounded = grep { unbounded_reads($_) } @plans;
is(scalar @unbounded, 0, 'each index read is bounded by seq, or by a LIMIT newest first') or diag($unbounded[0]);

# The index reads of a plan whose condition names no seq, unless they read
# backwards right under a Limit.
sub unbounded_reads {
	my @lines = split /\n/, $_[0];
	my @found;
	for my $i (0 .. $#lines) {
		$lines[$i] =~ /^(\s*)(?:->\s*)?(?:Index|Index Only|Bitmap Index) Scan( Backward)? (?:using|on) webhook_deliver/
			or next;
		my ($indent, $backward) = (length $1, $2);
		my ($cond) = ($lines[$i + 1] // '') =~ /Index Cond: (.*)/;
		next if !defined $cond || $cond =~ /\b(?:first_)?seq\b/;
		push @found, $lines[$i] unless $backward && parent_node(\@lines, $i, $indent) =~ /^\s*(?:->\s*)?Limit\b/;
	}
	return @found;
}

# The node above line $i (indented $indent): the nearest node before it
# indented less.
sub parent_node {
	my ($lines, $i, $indent) = @_;
	for (my $j = $i - 1; $j >= 0; $j--) {
		return $lines->[$j] if $lines->[$j] =~ /^(\s*)->/ && length $1 < $indent;
	}
	return '';
}

$s->finish;
done_testing;
