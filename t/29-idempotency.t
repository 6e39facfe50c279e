#!/usr/bin/perl
# Idempotency-Key (DESIGN §4): a retry gets the first response again and
# writes nothing; the key with another request is 409; a retry while the
# first is in flight waits for it (or 409 in_use after 5 s) — never two
# incidents; keys are per org, expire after 24 h and are pruned in batches.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use POSIX ();
use IO::Socket::INET;
use IncidentdTest;
use OpenAPICheck;
use StreamCheck;
use ApiCall qw(error_is finish_bg req_bg);

my $s = IncidentdTest->new(workers => 3);
my $W = $s->key('write');
my $api = ApiCall->new($s, $W);
my $T = 1773932400;    # 2026-03-19T15:00:00Z
my $JSON = JSON::PP->new->utf8->canonical;

sub post {
	my ($path, $body, $key, %o) = @_;
	return $api->call(POST => $path, body => $body,
		headers => { (defined $key ? ('Idempotency-Key' => $key) : ()), 'X-Test-Now' => $o{now} // $T,
			%{ $o{headers} || {} } },
		(exists $o{api_key} ? (key => $o{api_key}) : ()));
}
sub post_bg {
	my ($path, $body, $key) = @_;
	return req_bg($s, POST => $path, key => $W, body => $body,
		headers => { 'Idempotency-Key' => $key, 'X-Test-Now' => $T });
}
sub total { ($api->call(GET => '/v1/tickets?limit=1')->{json} || {})->{total} }


# A psql session holding the org's row: every write waits at its event,
# after it has claimed its key (FOR NO KEY UPDATE, as the event's own
# update: the key's foreign-key check still passes).
sub hold_org {
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		open STDOUT, '>', '/dev/null';
		open STDERR, '>', '/dev/null';
		eval { $s->psql("BEGIN; SELECT 1 FROM orgs WHERE id = " . $s->org_id . " FOR NO KEY UPDATE; SELECT pg_sleep(600)") };
		POSIX::_exit(0);
	}
	eventually(sub { $s->psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%'"
		. " AND state = 'active' AND pid <> pg_backend_pid()") + 0 > 0 }, 30) or die "no lock holder\n";
	return $pid;
}
sub release_org {
	my ($pid) = @_;
	$s->psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%'"
		. " AND pid <> pg_backend_pid()");
	waitpid $pid, 0;
}
sub waiting_writes {
	return $s->psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'incidentd'"
		. " AND wait_event_type = 'Lock'") + 0;
}

# --- a retry gets the first response, writes nothing, emits nothing ------------
my $body = { title => 'Disk full on db-1', priority => 'high' };
my $first = post('/v1/tickets', $body, 'retry-1');
is($first->{status}, 201, 'first request: 201') or diag($first->{content});
ok(!exists $first->{headers}{'idempotent-replayed'}, 'the first answer is not a replay');
my $seq = current_seq($s);
my $total = total();
my $again = post('/v1/tickets', $body, 'retry-1', now => $T + 60);
is($again->{status}, 201, 'retry: the same status');
is($again->{content}, $first->{content}, 'retry: the same body, byte for byte');
is($again->{headers}{location}, $first->{headers}{location}, 'retry: the same Location');
is($again->{headers}{etag}, $first->{headers}{etag}, 'retry: the same ETag');
is($again->{headers}{'idempotent-replayed'}, 'true', 'retry: Idempotent-Replayed: true');
isnt($again->{headers}{'x-request-id'}, $first->{headers}{'x-request-id'}, 'retry: its own request id');
is(total(), $total, 'retry: no second incident');
is(current_seq($s), $seq, 'retry: no event');

my $other = post('/v1/tickets', { title => 'Disk full on db-2' }, 'retry-1');
error_is($other, 409, 'conflict_error', 'idempotency_key_reused', 'the key with another body: 409 reused');
my $id = ($first->{json} || {})->{id};
error_is(post("/v1/incidents/$id/replies", { body => 'a reply' }, 'retry-1'), 409, 'conflict_error',
	'idempotency_key_reused', 'the key on another path: 409 reused');
my $spaced = post('/v1/tickets', '{"title": "Disk full on db-1", "priority": "high"}', 'retry-1');
error_is($spaced, 409, 'conflict_error', 'idempotency_key_reused', 'the same JSON spelled differently is another body');

# --- a failed request records nothing ------------------------------------------
error_is(post('/v1/tickets', { title => '' }, 'after-422'), 422, 'validation_error', 'is_required',
	'an invalid body: 422');
is(post('/v1/tickets', { title => 'Now valid' }, 'after-422')->{status}, 201,
	'the key of a refused request is still free: the corrected request creates');

# --- keys: per org, printable ASCII, 1–255 ----------------------------------------
my $org2 = $s->new_org('idempotency-other');
my $theirs = post('/v1/tickets', $body, 'retry-1', api_key => $org2->{keys}{write});
is($theirs->{status}, 201, 'the same key in another org: a new incident');
ok(!exists $theirs->{headers}{'idempotent-replayed'}, '... not a replay of ours');
isnt(($theirs->{json} || {})->{id}, $id, '... with its own id');
for my $bad (['x' x 256, '256 characters'], ["a\tb", 'a tab']) {
	error_is(post('/v1/tickets', $body, $bad->[0]), 422, 'validation_error', 'invalid_value',
		"a key of $bad->[1]: 422", message => 'Idempotency-Key must be 1 to 255 printable ASCII characters');
}
# Bytes HTTP::Tiny will not send: a raw request.
sub raw_post_key {
	my ($key) = @_;
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->port, Proto => 'tcp')
	    or die "connect: $!";
	my $body = '{"title":"raw"}';
	print $sock "POST /v1/tickets HTTP/1.1\r\nHost: t\r\nConnection: close\r\nx-api-key: $W\r\n"
	    . "Idempotency-Key: $key\r\nContent-Type: application/json\r\n"
	    . "Content-Length: " . length($body) . "\r\n\r\n$body";
	local $/;
	my $resp = <$sock> // '';
	my ($status) = $resp =~ m{^HTTP/1\.1 (\d+)};
	my ($json) = $resp =~ /\r\n\r\n(.*)\z/s;
	return ($status // 0, eval { $JSON->decode($json // '') } || {});
}
for my $bad (["caf\xc3\xa9", 'non-ASCII bytes'], ["a\x01b", 'a control character'], ["a\x7fb", 'DEL']) {
	my ($status, $json) = raw_post_key($bad->[0]);
	is_deeply([$status, ($json->{errors} || [{}])->[0]{code}, ($json->{errors} || [{}])->[0]{source}],
		[422, 'invalid_value', { header => 'Idempotency-Key' }], "a key with $bad->[1]: 422 naming the header");
}
my $r255 = post('/v1/tickets', { title => 'long key' }, 'k' x 255);
is($r255->{status}, 201, 'a key of 255 characters is accepted');
is(post('/v1/tickets', { title => 'long key' }, 'k' x 255)->{headers}{'idempotent-replayed'}, 'true',
	'... and replays');

# --- 24 hours ------------------------------------------------------------------------
my $day = post('/v1/tickets', { title => 'daily' }, 'day-key');
is(post('/v1/tickets', { title => 'daily' }, 'day-key', now => $T + 86399)->{headers}{'idempotent-replayed'},
	'true', 'a retry 23:59:59 later replays');
my $later = post('/v1/tickets', { title => 'daily' }, 'day-key', now => $T + 86400 + 1);
is($later->{status}, 201, 'after 24 h the key is free again: 201');
ok(!exists $later->{headers}{'idempotent-replayed'}, '... a new write, not a replay');
isnt(($later->{json} || {})->{id}, ($day->{json} || {})->{id}, '... a new incident');

# --- replies and the compatibility mounts ----------------------------------------
my $reply = post("/v1/incidents/$id/replies", { body => 'Looking' }, 'reply-1');
is($reply->{status}, 201, 'reply with a key: 201');
my $reply2 = post("/v1/incidents/$id/replies", { body => 'Looking' }, 'reply-1');
is_deeply([$reply2->{status}, $reply2->{content}, $reply2->{headers}{'idempotent-replayed'}],
	[201, $reply->{content}, 'true'], 'reply retry: the same reply, replayed');
is(($api->call(GET => "/v1/incidents/$id/replies")->{json} || {})->{total}, 1, 'one reply stored');
for my $m (['/compat/statly/api/v1/incidents', { title => 'statly retry' }],
           ['/compat/alert24/api/v1/incidents', { title => 'alert24 retry' }]) {
	my $a = post($m->[0], $m->[1], "mount-$m->[0]");
	my $b = post($m->[0], $m->[1], "mount-$m->[0]");
	is_deeply([$b->{status}, $b->{content}, $b->{headers}{location}, $b->{headers}{'idempotent-replayed'}],
		[201, $a->{content}, $a->{headers}{location}, 'true'], "$m->[0]: a retry replays the create");
}

# --- in flight: the retry waits for the first ----------------------------------------
# Under valgrind the harness runs one worker: a second request cannot reach
# incidentd while the first holds it, so there is nothing in flight to wait on.
subtest 'a retry while the first request is in flight' => sub {
	plan skip_all => 'valgrind runs one worker: no second request while the first is in flight'
		if IncidentdTest::valgrind();
	my $before = total();
	my $locker = hold_org();
	my $bg1 = post_bg('/v1/tickets', { title => 'in flight' }, 'flight-1');
	ok(eventually(sub { waiting_writes() >= 1 }, 20), 'the first request waits inside its transaction');
	my $bg2 = post_bg('/v1/tickets', { title => 'in flight' }, 'flight-1');
	ok(eventually(sub { waiting_writes() >= 2 }, 20), 'the retry waits for the first');
	release_org($locker);
	my ($r1, $r2) = (finish_bg($bg1), finish_bg($bg2));
	is_deeply([$r1->{status}, $r2->{status}], [201, 201], 'both: 201');
	is($r2->{content}, $r1->{content}, 'the retry got the first answer');
	is($r2->{headers}{'idempotent-replayed'}, 'true', '... as a replay');
	is(total(), $before + 1, 'one incident');
};

subtest 'a retry while the first is in flight for longer than 5 s' => sub {
	plan skip_all => 'valgrind runs one worker: no second request while the first is in flight'
		if IncidentdTest::valgrind();
	my $locker = hold_org();
	my $bg1 = post_bg('/v1/tickets', { title => 'long flight' }, 'flight-2');
	ok(eventually(sub { waiting_writes() >= 1 }, 20), 'the first request waits');
	my $busy = post('/v1/tickets', { title => 'long flight' }, 'flight-2');
	error_is($busy, 409, 'conflict_error', 'idempotency_key_in_use', 'the retry after 5 s: 409 in_use');
	is($busy->{headers}{'retry-after'}, '1', '... with Retry-After: 1');
	release_org($locker);
	is(finish_bg($bg1)->{status}, 201, 'the first request then completes');
	is(post('/v1/tickets', { title => 'long flight' }, 'flight-2')->{headers}{'idempotent-replayed'}, 'true',
		'and a later retry replays it');
};

# --- truly concurrent: many keys, two requests each at once -----------------------
my $before = total();
my @pairs = map { my $k = "race-$_"; [post_bg('/v1/tickets', { title => "race $_" }, $k),
	post_bg('/v1/tickets', { title => "race $_" }, $k)] } 1 .. 15;
my (%ids, @statuses);
for my $p (@pairs) {
	my @r = map { finish_bg($_) } @$p;
	push @statuses, map { $_->{status} } @r;
	my @created = grep { $_->{status} == 201 } @r;
	$ids{ ($_->{json} || {})->{id} // 'none' }++ for @created;
}
is(total(), $before + 15, '15 keys, two concurrent requests each: 15 incidents');
is(scalar(grep { $_ != 201 && $_ != 409 } @statuses), 0, 'every answer is 201 or 409 (in_use)');
is(scalar(grep { $_ > 2 } values %ids), 0, 'no answer names an incident a third request made');

# --- expired keys are pruned in batches ----------------------------------------------
my $org = $s->org_id;
$s->psql("INSERT INTO idempotency_keys (org_id, key, request_hash, status, created_at) "
	. "SELECT $org, 'old-' || g, 'x', 201, to_timestamp($T) - interval '2 days' FROM generate_series(1, 2500) g");
my $expired = sub {
	$s->psql("SELECT count(*) FROM idempotency_keys WHERE key LIKE 'old-%'") + 0 };
my @seen = ($expired->());
ok(eventually(sub {
	post('/v1/tickets', { title => 'prune' }, 'pruner');
	my $n = $expired->();
	push @seen, $n if $n != $seen[-1];
	$n == 0;
}, 30), 'requests with keys prune the expired records');
my @steps = map { $seen[$_ - 1] - $seen[$_] } 1 .. $#seen;
ok(@steps >= 3 && !grep({ $_ > 1000 } @steps), 'in batches of at most 1,000 (' . join(', ', @steps) . ')');
is($s->psql("SELECT count(*) FROM idempotency_keys WHERE key = 'pruner'") + 0, 1, 'live keys stay');

$s->finish;
done_testing;
