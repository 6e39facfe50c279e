#!/usr/bin/env perl
# incidentd-hooks when things fail (DESIGN §9): the retry schedule on the
# test clock, a subscription given up after its 3-day window, and nothing
# lost when incidentd-hooks is killed, Redis goes away or PostgreSQL
# restarts.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);

use lib 't/lib';
use IncidentdTest;
use HookReceiver;
use HookCheck;
use StreamCheck;

my $s = IncidentdTest->new(own_postgres => 1);
my $rx = HookReceiver->new(dir => $s->dir);
my $W = $s->key('write');

# A sample of /metrics (served by the workers from incidentd-hooks's page).
sub metric {
	my ($name) = @_;
	my $r = $s->req(GET => '/metrics');
	return $r->{content} =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}

sub create {
	my ($title) = @_;
	my $r = $s->req(POST => '/v1/tickets', key => $W, body => { title => $title });
	is($r->{status}, 201, "create '$title'") or diag($r->{content});
}

# Every seq in $from+1..$to arrived at least once, in order: each request
# the next event, but after a restart ($restarts allowed), which goes back
# to the stored cursor and so may repeat the few events written behind.
sub all_arrived {
	my ($path, $from, $to, $restarts) = @_;
	my @got = $rx->wait_for(sub {
		my %seen = map { (split /-/, $_->{headers}{'webhook-id'})[1] => 1 } @{ $_[0] };
		return !grep { !$seen{$_} } $from + 1 .. $to;
	}, "seq " . ($from + 1) . "..$to at $path", path => $path, timeout => 90);
	my @seqs = map { (split /-/, $_->{headers}{'webhook-id'})[1] } @got;
	my @back = grep { $seqs[$_] <= $seqs[ $_ - 1 ] } 1 .. $#seqs;
	my @skip = grep { $seqs[$_] > $seqs[ $_ - 1 ] + 1 } 1 .. $#seqs;
	ok(@back <= ($restarts // 0) && !@skip && $seqs[0] == $from + 1,
		"$path: in order (" . scalar(@seqs) . ' requests for ' . ($to - $from) . ' events, '
		. scalar(@back) . ' restart(s))') or diag("@seqs");
}

subtest 'the retry schedule, on the test clock' => sub {
	$rx->script('/retry', 500);
	my $hook = new_hook($s, $rx->url('/retry'));
	my $seq = current_seq($s) + 1;
	create('retried');
	$rx->wait_for(sub { @{ $_[0] } >= 1 }, 'the first attempt', path => '/retry');
	my $d;
	$s->_poll('attempt 1 recorded', sub { ($d = deliveries($s, $hook->{id})->{$seq}) && $d->{attempts} == 1 });
	my $wait = $d->{next_attempt_at} - $d->{first_attempt_at};
	# 5 s ± 10 % from the answer, which may come a second after the send
	ok($wait >= 4 && $wait <= 7, "attempt 2 due 5 s after the first (jitter): $wait s");
	is($d->{last_status}, 500, 'last_status 500');
	like($d->{last_error}, qr/status/, 'last_error says why');
	my $next1 = $d->{next_attempt_at};
	# the schedule runs on the test clock: move it past each due time
	my %want = (2 => 30, 3 => 120, 4 => 600, 5 => 3600, 6 => 14400, 7 => 14400);
	my $offset = 0;
	for my $n (2 .. 7) {
		$offset = $d->{next_attempt_at} - int(time) + 1;
		$s->set_hooks_clock($offset);
		my $prev = $d;
		$s->_poll("attempt $n", sub { ($d = deliveries($s, $hook->{id})->{$seq}) && $d->{attempts} == $n });
		my $gap = $d->{next_attempt_at} - $prev->{next_attempt_at};
		my $w = $want{$n};
		# ± 10 %, plus the tick (1 s) and a loaded machine's lag in between
		ok($gap >= $w * 0.9 - 1 && $gap <= $w * 1.1 + 5, "attempt $n: the next one $w s later (jitter): $gap s");
	}
	is(scalar @{ $rx->requests('/retry') }, 7, 'seven requests, no more');
	$s->_poll('the oldest pending age reported', sub {
		(metric('incidentd_webhook_oldest_pending_seconds') // 0) >= 3 * 3600 });
	pass('incidentd_webhook_oldest_pending_seconds: the event has waited hours (test clock)');
	is(metric('incidentd_webhook_deliveries_total{outcome="failed"}'), 7, 'seven failed attempts counted');
	is($d->{first_attempt_at}, deliveries($s, $hook->{id})->{$seq}{first_attempt_at}, 'first_attempt_at kept');

	# past 3 days from the first attempt: given up
	$s->set_hooks_clock($d->{first_attempt_at} + 3 * 86400 + 10 - int(time));
	$s->_poll('the subscription disabled', sub { !hook_row($s, $hook->{id})->{enabled} });
	my $row = hook_row($s, $hook->{id});
	like($row->{disabled_reason}, qr/not delivered after 8 attempts over 3 days/, "disabled_reason: $row->{disabled_reason}");
	is($row->{lease_owner}, '', 'its lease given up');
	is(metric('incidentd_webhook_deliveries_total{outcome="disabled"}'), 1, 'one disabled counted');
	is($row->{cursor_seq}, $seq - 1, 'the cursor stays before the event');
	my $n = scalar @{ $rx->requests('/retry') };
	create('after the disable');
	sleep 2.5;    # two ticks: nothing may be sent
	is(scalar @{ $rx->requests('/retry') }, $n, 'a disabled subscription is sent nothing');
	$s->set_hooks_clock(0);
	$s->psql("DELETE FROM webhooks WHERE id = '$hook->{id}'");
};

subtest 'kill -9 of incidentd-hooks loses nothing' => sub {
	my $hook = new_hook($s, $rx->url('/kill'));
	my $from = current_seq($s);
	create("before kill $_") for 1 .. 15;
	$rx->wait_for(sub { @{ $_[0] } >= 3 }, 'deliveries under way', path => '/kill');
	my $pid = $s->kill_hooks;
	ok($pid, "incidentd-hooks $pid killed, another started");
	create("after kill $_") for 1 .. 15;
	all_arrived('/kill', $from, $from + 30, 1);
	$s->_poll('the cursor stored', sub { hook_row($s, $hook->{id})->{cursor_seq} == $from + 30 });
	ok(metric('incidentd_webhook_deliveries_total{outcome="delivered"}') >= 30,
		'delivered counted, across the restart of incidentd-hooks');
	$s->_poll('nothing pending', sub { metric('incidentd_webhook_oldest_pending_seconds') == 0 });
	pass('incidentd_webhook_oldest_pending_seconds back to 0');
	$s->psql("DELETE FROM webhooks WHERE id = '$hook->{id}'");
};

subtest 'a restarted incidentd-hooks goes on with the attempts made before' => sub {
	$rx->script('/resume', 500, 500, 200);
	my $hook = new_hook($s, $rx->url('/resume'));
	my $seq = current_seq($s) + 1;
	create('resumed');
	my $d;
	$s->_poll('attempt 1 recorded', sub { ($d = deliveries($s, $hook->{id})->{$seq}) && $d->{attempts} == 1 });
	my ($first, $due) = @{$d}{qw(first_attempt_at next_attempt_at)};
	$s->kill_hooks;
	my @got = $rx->wait_for(sub { @{ $_[0] } >= 2 }, 'attempt 2, from the new process', path => '/resume');
	ok($got[1]{at} >= $due - 1, 'not before it was due: ' . sprintf('%.1f s after the due time', $got[1]{at} - $due));
	$s->_poll('attempt 2 recorded', sub { ($d = deliveries($s, $hook->{id})->{$seq}) && $d->{attempts} == 2 });
	is($d->{first_attempt_at}, $first, 'counted on from the first attempt, which stays the first');
	$s->set_hooks_clock($d->{next_attempt_at} - int(time) + 1);
	$s->_poll('delivered at attempt 3', sub { ($d = deliveries($s, $hook->{id})->{$seq}) && $d->{delivered} });
	is($d->{attempts}, 3, 'three attempts in all');
	$s->set_hooks_clock(0);
	$s->psql("DELETE FROM webhooks WHERE id = '$hook->{id}'");
};

subtest 'subscriptions moved back together: each goes on with its own attempts' => sub {
	# Two subscriptions, each failing a different event once, moved back
	# one event in one statement (as bench/hooks does): incidentd-hooks
	# reads both subscriptions' earlier attempts in one statement, and
	# each must get its own.
	$s->set_hooks_clock(-600); # no retry falls due before the move
	sleep 1.5;                 # a tick: read
	$rx->script('/prior-b', 500, 200);
	my $hb = new_hook($s, $rx->url('/prior-b'));
	my $one = current_seq($s) + 1;
	create('prior one');
	$s->_poll('b: attempt 1 at the first event', sub { my $d = deliveries($s, $hb->{id})->{$one}; $d && $d->{attempts} == 1 });
	$rx->script('/prior-a', 500, 200);
	my $ha = new_hook($s, $rx->url('/prior-a'));
	my $two = $one + 1;
	create('prior two');
	my $d;
	$s->_poll('a: attempt 1 at the second event', sub { ($d = deliveries($s, $ha->{id})->{$two}) && $d->{attempts} == 1 });
	my $first = $d->{first_attempt_at};
	$s->psql("UPDATE webhooks SET cursor_seq = cursor_seq - 1, updated_at = now() "
		. "WHERE id IN ('$ha->{id}', '$hb->{id}')");
	$s->set_hooks_clock(0); # both retries due
	$s->_poll('both subscriptions done', sub {
		my ($da, $db) = (deliveries($s, $ha->{id}), deliveries($s, $hb->{id}));
		$da->{$two} && $da->{$two}{delivered} && $db->{$two} && $db->{$two}{delivered} });
	my ($da, $db) = (deliveries($s, $ha->{id}), deliveries($s, $hb->{id}));
	is($da->{$one}{attempts}, 1, 'a: the event before its cursor, sent once');
	is($da->{$two}{attempts}, 2, 'a: its failed event, a second attempt');
	is($da->{$two}{first_attempt_at}, $first, 'a: counted from its first attempt');
	is($db->{ $one - 1 }{attempts}, 1, 'b: the event before its cursor, sent once');
	is($db->{$one}{attempts}, 2, 'b: its failed event, a second attempt');
	is($db->{$two}{attempts}, 1, 'b: the next event, one attempt');
	is(scalar @{ $rx->requests('/prior-a') }, 3, 'a: three requests');
	is(scalar @{ $rx->requests('/prior-b') }, 4, 'b: four requests');
	unlike($s->log, qr/duplicate key/, 'each row that was there went through the upsert');
	$s->psql("DELETE FROM webhooks WHERE id IN ('$ha->{id}', '$hb->{id}')");
};

subtest 'a Redis outage loses nothing' => sub {
	my $hook = new_hook($s, $rx->url('/redis'));
	my $from = current_seq($s);
	create("before outage $_") for 1 .. 5;
	$s->stop_redis;
	create("during outage $_") for 1 .. 10;
	all_arrived('/redis', $from, $from + 15);
	$s->start_redis;
	create("after outage $_") for 1 .. 5;
	all_arrived('/redis', $from, $from + 20);
	$s->psql("DELETE FROM webhooks WHERE id = '$hook->{id}'");
};

# incidentd-hooks's busiest statements are prepared once per connection
# (sse_pg.c): on the new connections they must be prepared again.
subtest 'a PostgreSQL restart loses nothing' => sub {
	my $hook = new_hook($s, $rx->url('/pg'));
	my $from = current_seq($s);
	create("before restart $_") for 1 .. 5;
	all_arrived('/pg', $from, $from + 5);
	$s->_poll('the cursor stored', sub { hook_row($s, $hook->{id})->{cursor_seq} == $from + 5 });
	$s->restart_postgres;
	create("after restart $_") for 1 .. 10;
	all_arrived('/pg', $from, $from + 15, 1);
	$s->_poll('the cursor stored after the restart',
		sub { hook_row($s, $hook->{id})->{cursor_seq} == $from + 15 });
	my $d = deliveries($s, $hook->{id});
	is(scalar(grep { $d->{$_} && $d->{$_}{delivered} } $from + 1 .. $from + 15), 15,
		'a delivery row for each event');
	unlike($s->log, qr/prepared statement "\w+" does not exist/,
		'no statement ran before it was prepared on its connection');
	$s->psql("DELETE FROM webhooks WHERE id = '$hook->{id}'");
};

$rx->stop;
$s->finish;
done_testing;
