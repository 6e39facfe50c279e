#!/usr/bin/env perl
# incidentd-hooks delivers (DESIGN §9): the event exactly as on the org
# stream, signed per the Standard Webhooks spec, every event once per
# subscription and in order, the same webhook-id again after a failure, the
# Slack format's message (with no link for a deleted incident), a rotated
# secret signing beside the new one for a day, a replay, and a retry by the
# next process updating the row the first one wrote.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);

use lib 't/lib';
use IncidentdTest;
use HookReceiver;
use HookCheck;
use StreamCheck;

# incidentd-hooks takes no proxy from the environment (DESIGN §9's safety
# rules): incidentd starts with every proxy variable pointing nowhere, and
# every delivery below still goes straight to the receiver.
my $s = do {
	local @ENV{qw(http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY)} =
	    ('http://127.0.0.1:9') x 6;
	local @ENV{qw(no_proxy NO_PROXY)};
	delete @ENV{qw(no_proxy NO_PROXY)};
	IncidentdTest->new;
};
my $rx = HookReceiver->new(dir => $s->dir);
my $W = $s->key('write');
my $JSON = JSON::PP->new->utf8;

ok($s->hooks_pid, 'the master runs incidentd-hooks');

sub create {
	my ($title) = @_;
	my $r = $s->req(POST => '/v1/tickets', key => $W, body => { title => $title });
	is($r->{status}, 201, "create '$title'") or diag($r->{content});
	return $r->{json};
}

subtest 'one event: the stream\'s bytes, signed, with the headers' => sub {
	my $hook = new_hook($s, $rx->url('/one'));
	my $stream = $s->stream('/v1/incidents/stream', key => $s->key('read'));
	is($stream->{status}, 200, 'stream open');
	my $seq = current_seq($s);
	create('Disk full');
	my $ev = $stream->read_until(sub { ($_[0]{id} // 0) == $seq + 1 }, 10);
	ok($ev && @$ev, 'the stream sent the event');
	my ($req) = $rx->wait_for(sub { @{ $_[0] } >= 1 }, 'the delivery', path => '/one');
	is($req->{method}, 'POST', 'POST');
	is($req->{body}, $ev->[-1]{data_raw}, 'body: the stream\'s data, byte for byte');
	my $h = $req->{headers};
	is($h->{'webhook-id'}, $s->org_id . '-' . ($seq + 1), 'webhook-id: <org>-<seq>');
	like($h->{'webhook-timestamp'}, qr/^\d+$/, 'webhook-timestamp: unix seconds');
	ok(abs($h->{'webhook-timestamp'} - time) < 60, 'and now');
	ok(verify_signature($hook->{secret}, $req), 'webhook-signature verifies with the secret');
	ok(!verify_signature(new_secret(), $req), 'and not with another');
	is($h->{'content-type'}, 'application/json', 'Content-Type');
	like($h->{'user-agent'}, qr{^incidentd/\d}, 'User-Agent: incidentd/VERSION');
	$stream->close;
	$s->_poll('the cursor to be stored', sub { hook_row($s, $hook->{id})->{cursor_seq} == $seq + 1 });
	my $d = deliveries($s, $hook->{id})->{ $seq + 1 };
	ok($d && $d->{delivered}, 'a delivery row, delivered');
	is($d->{attempts}, 1, 'one attempt');
	is($d->{last_status}, 200, 'last_status 200');
	$s->psql("DELETE FROM webhooks WHERE id = '$hook->{id}'");
};

subtest 'a rotated secret signs beside the new one for 24 hours' => sub {
	my $hook = new_hook($s, $rx->url('/rotate'));
	my $old = $hook->{secret};
	create('before the rotation');
	my ($first) = $rx->wait_for(sub { @{ $_[0] } >= 1 }, 'the first delivery', path => '/rotate');
	is(scalar(signatures($first)), 1, 'one signature before');
	my $r = $s->req(POST => "/v1/webhooks/$hook->{id}/rotate-secret", key => $s->key('admin'));
	is($r->{status}, 200, 'rotate-secret: 200') or diag($r->{content});
	my $new = $r->{json}{secret} // '';
	my $until = $s->req(GET => "/v1/webhooks/$hook->{id}", key => $s->key('admin'))->{json}
		{previous_secret_expires_at} // '';
	like($until, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, "previous_secret_expires_at: $until");
	# One event after another until the latest delivery passes $check (at
	# most 15, a second apart): incidentd-hooks hears of a rotation at its
	# next read of the row, and of its test clock at its next tick.
	my $sent = 1;
	my $deliver_until = sub {
		my ($check, $what) = @_;
		my $req;
		for my $try (1 .. 15) {
			create("$what $try");
			$sent++;
			($req) = reverse $rx->wait_for(sub { @{ $_[0] } >= $sent }, "delivery $sent", path => '/rotate');
			return $req if $check->($req);
			sleep 1;
		}
		fail("no delivery $what");
		return $req;
	};
	my $req = $deliver_until->(sub { signatures($_[0]) == 2 }, 'after the rotation');
	is(scalar(signatures($req)), 2, 'two signatures after the rotation');
	ok(verify_signature($new, $req) && verify_signature($old, $req), 'one by the new secret, one by the old');
	my %first = (%{ $req->{headers} }, 'webhook-signature' => (signatures($req))[0]);
	ok(verify_signature($new, { %$req, headers => \%first }), 'the new secret\'s first');
	# a day on (incidentd-hooks's test clock): the old secret signs no more
	$s->set_hooks_clock(86400 + 60);
	$req = $deliver_until->(sub { $_[0]{headers}{'webhook-timestamp'} > time + 86400 }, 'a day later');
	is(scalar(signatures($req)), 1, 'a day later: one signature');
	ok(verify_signature($new, $req), 'the new secret\'s');
	$s->set_hooks_clock(0);
	$deliver_until->(sub { abs($_[0]{headers}{'webhook-timestamp'} - time) < 60 }, 'back to today');
	$s->psql("DELETE FROM webhooks WHERE id = '$hook->{id}'");
};

subtest 'a burst: every event once per subscription, in order' => sub {
	my @hooks = map { new_hook($s, $rx->url("/burst$_")) } 1 .. 3;
	my $from = current_seq($s);
	create("burst $_") for 1 .. 50;
	for my $i (1 .. 3) {
		my @got = $rx->wait_for(sub { @{ $_[0] } >= 50 }, "50 deliveries to /burst$i",
			path => "/burst$i");
		my @ids = map { $_->{headers}{'webhook-id'} } @got;
		is_deeply(\@ids, [ map { $s->org_id . '-' . ($from + $_) } 1 .. 50 ],
			"/burst$i: seq " . ($from + 1) . '..' . ($from + 50) . ', once each, in order');
		ok(!(grep { !verify_signature($hooks[ $i - 1 ]{secret}, $_) } @got), 'all signed');
	}
	for my $hook (@hooks) {
		$s->_poll('the cursor to be stored', sub { hook_row($s, $hook->{id})->{cursor_seq} == $from + 50 });
		# delivered at the first try: runs of events, no row each (sql/014)
		my ($rows, $runs, $in_runs) = split /\|/, $s->psql("SELECT (SELECT count(*) FROM webhook_deliveries "
			. "WHERE webhook_id = '$hook->{id}'), count(*), sum(cardinality(seqs)) FROM webhook_delivery_runs "
			. "WHERE webhook_id = '$hook->{id}'");
		is($rows + 0, 0, 'no delivery row of its own for an event delivered at the first try');
		ok($runs >= 1 && $runs < 50 && $in_runs == 50, "the 50 in runs ($runs)");
		my $r = $s->req(GET => "/v1/webhooks/$hook->{id}/deliveries?limit=100", key => $s->key('admin'));
		my @listed = @{ $r->{json}{deliveries} || [] };
		is_deeply([ map { $_->{seq} } @listed ], [ reverse map { $from + $_ } 1 .. 50 ], 'the API lists each, newest first');
		ok(!(grep { $_->{attempts} != 1 || $_->{last_status} != 200 || !defined $_->{delivered_at}
			|| defined $_->{next_attempt_at} || defined $_->{last_error} || !defined $_->{duration_ms} } @listed),
			'each delivered at its one attempt') or diag(explain $listed[0]);
	}
	$s->psql("DELETE FROM webhooks WHERE id = '$_->{id}'") for @hooks;
};

subtest '500 then 200: the same event again, same webhook-id' => sub {
	$rx->script('/flaky', 500, 200);
	my $hook = new_hook($s, $rx->url('/flaky'));
	my $seq = current_seq($s);
	create('flaky one');
	create('flaky two');
	my @got = $rx->wait_for(sub { @{ $_[0] } >= 3 }, 'three requests', path => '/flaky');
	is($got[0]{answer}, 500, 'first answered 500');
	is($got[1]{headers}{'webhook-id'}, $got[0]{headers}{'webhook-id'}, 'retried with the same webhook-id');
	is($got[1]{body}, $got[0]{body}, 'and the same body');
	is($got[2]{headers}{'webhook-id'}, $s->org_id . '-' . ($seq + 2), 'then the next event');
	my $gap = $got[1]{at} - $got[0]{at};
	ok($gap >= 3.5 && $gap < 9, "the retry came after about 5 s ($gap)");
	$s->_poll('the cursor to be stored', sub { hook_row($s, $hook->{id})->{cursor_seq} == $seq + 2 });
	my $d = deliveries($s, $hook->{id})->{ $seq + 1 };
	is($d->{attempts}, 2, 'two attempts recorded');
	ok($d->{delivered}, 'delivered');
	my ($rows) = $s->psql("SELECT string_agg(seq::text, ',') FROM webhook_deliveries "
		. "WHERE webhook_id = '$hook->{id}'") =~ /^(.*)$/m;
	is($rows, $seq + 1, 'the retried event has a row of its own');
	my ($runs) = $s->psql("SELECT string_agg(array_to_string(seqs, ','), ';') FROM webhook_delivery_runs "
		. "WHERE webhook_id = '$hook->{id}'") =~ /^(.*)$/m;
	is($runs, $seq + 2, 'the next, delivered at the first try, is in a run');
	$s->psql("DELETE FROM webhooks WHERE id = '$hook->{id}'");
};

subtest 'a replay sends the events again, with the same webhook-ids' => sub {
	my $hook = new_hook($s, $rx->url('/replayed'));
	my $seq = current_seq($s);
	create("replayed $_") for 1 .. 5;
	$rx->wait_for(sub { @{ $_[0] } >= 5 }, 'five deliveries', path => '/replayed');
	$s->_poll('the cursor to be stored', sub { hook_row($s, $hook->{id})->{cursor_seq} == $seq + 5 });
	my $r = $s->req(POST => "/v1/webhooks/$hook->{id}/replay", key => $s->key('admin'),
		body => { from_seq => $seq + 1 });
	is($r->{status}, 200, 'replay') or diag($r->{content});
	my @got = $rx->wait_for(sub { @{ $_[0] } >= 10 }, 'the five again', path => '/replayed');
	is_deeply([ map { $_->{headers}{'webhook-id'} } @got[ 5 .. 9 ] ],
		[ map { $_->{headers}{'webhook-id'} } @got[ 0 .. 4 ] ], 'the same webhook-ids, in order');
	# a backlog: each event after the first is signed while the request
	# before it is in flight (hooks_sub.c), and must verify all the same
	ok(!(grep { !verify_signature($hook->{secret}, $_) } @got[ 5 .. 9 ]),
		'the replayed requests are signed, with their own webhook-ids and timestamps');
	$s->_poll('the cursor to be stored again', sub {
		hook_row($s, $hook->{id})->{cursor_seq} == $seq + 5 });
	my $d = deliveries($s, $hook->{id});
	is_deeply([ sort keys %$d ], [ map { $seq + $_ } 1 .. 5 ], 'one row per event');
	is($s->psql("SELECT count(*) FROM webhook_delivery_log WHERE webhook_id = '$hook->{id}'") + 0, 5,
		'and no event twice (a row and a run)');
	ok(!(grep { !$_->{delivered} || $_->{attempts} != 1 } values %$d), 'each delivered, one attempt');
	$s->psql("DELETE FROM webhooks WHERE id = '$hook->{id}'");
};

subtest 'a retry by the next process updates the row the first one wrote' => sub {
	$rx->script('/taken', 500, 200);
	my $hook = new_hook($s, $rx->url('/taken'));
	my $seq = current_seq($s);
	create('taken over');
	$s->_poll('the failed attempt\'s row', sub { deliveries($s, $hook->{id})->{ $seq + 1 } });
	# the next process learns of the row from PostgreSQL, not from what it
	# wrote itself
	$s->kill_hooks(sig => 'TERM');
	my @got = $rx->wait_for(sub { @{ $_[0] } >= 2 }, 'the retry', path => '/taken');
	is($got[1]{headers}{'webhook-id'}, $got[0]{headers}{'webhook-id'}, 'the same event again');
	$s->_poll('the delivery to be stored', sub { deliveries($s, $hook->{id})->{ $seq + 1 }{delivered} });
	my $d = deliveries($s, $hook->{id});
	is(scalar keys %$d, 1, 'one row');
	is($d->{ $seq + 1 }{attempts}, 2, 'both attempts counted in it');
	# a row that is there goes through the upsert, never the plain INSERT of
	# new rows, which would fail the statement (retried, but logged)
	unlike($s->log, qr/duplicate key/, 'no statement failed on a row that was there');
	$s->psql("DELETE FROM webhooks WHERE id = '$hook->{id}'");
};

subtest 'a URL libcurl cannot parse: each attempt fails, saying why' => sub {
	# stored behind the API's back (the API refuses it): port out of range
	my $hook = new_hook($s, 'http://127.0.0.1:99999/unparsable');
	my $seq = current_seq($s);
	create('unparsable');
	my $d;
	$s->_poll('the attempt recorded', sub { $d = deliveries($s, $hook->{id})->{ $seq + 1 } });
	like($d->{last_error}, qr/port|URL/i, "last_error says why: $d->{last_error}");
	ok(!$d->{delivered} && $d->{next_attempt_at} > 0, 'not delivered, retried later');
	$s->psql("DELETE FROM webhooks WHERE id = '$hook->{id}'");
};

subtest 'event types filter; slack format' => sub {
	my $hook = new_hook($s, $rx->url('/slack'), format => 'slack', events => ['incident.created']);
	my $seq = current_seq($s);
	my $inc = create('Checkout is down');
	my $r = $s->req(PATCH => "/v1/tickets/$inc->{id}", key => $W, body => { status => 'resolved' });
	ok($r->{status} < 300, 'update') or diag($r->{content});
	create('Second');
	my @got = $rx->wait_for(sub { @{ $_[0] } >= 2 }, 'two requests', path => '/slack');
	is_deeply([ map { $_->{headers}{'webhook-id'} } @got ],
		[ $s->org_id . '-' . ($seq + 1), $s->org_id . '-' . ($seq + 3) ],
		'only incident.created events');
	my $body = $JSON->decode($got[0]{body});
	is_deeply([ keys %$body ], ['text'], 'a {"text": ...} body');
	like($body->{text}, qr/^New incident #\d+: Checkout is down \(\w+\)/, 'title and status');
	like($body->{text}, qr{\Q${\ $s->url }\E/incidents/status/[A-Za-z0-9_-]+$}, 'link to the status page');
	ok(verify_signature($hook->{secret}, $got[0]), 'signed too');
	$s->_poll('the skipped event to move the cursor', sub {
		hook_row($s, $hook->{id})->{cursor_seq} == $seq + 3 });
	$s->psql("DELETE FROM webhooks WHERE id = '$hook->{id}'");
};

# The status page of a deleted incident is gone (404): its message says it
# was deleted and links nothing.
subtest 'slack format: a deleted incident, without a link' => sub {
	my $hook = new_hook($s, $rx->url('/slack-deleted'), format => 'slack',
		events => ['incident.created', 'incident.deleted']);
	my $inc = create('Gone soon');
	my $r = $s->req(DELETE => "/v1/tickets/$inc->{id}", key => $W);
	is($r->{status}, 204, 'delete') or diag($r->{content});
	my @got = $rx->wait_for(sub { @{ $_[0] } >= 2 }, 'two requests', path => '/slack-deleted');
	my ($created, $deleted) = map { $JSON->decode($_->{body})->{text} // '' } @got;
	like($created, qr{/incidents/status/\Q$inc->{customer_token}\E$}, 'the new incident links its status page');
	is($deleted, "Incident deleted #$inc->{id}", 'the deleted one: says so, with its number, and nothing else');
	unlike($deleted, qr{https?://|/incidents/status/}, 'no link');
	is($s->req(GET => "/incidents/status/$inc->{customer_token}")->{status}, 404,
		'(its status page is gone indeed)');
	$s->psql("DELETE FROM webhooks WHERE id = '$hook->{id}'");
};

$rx->stop;
$s->finish;
done_testing;
