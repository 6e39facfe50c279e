#!/usr/bin/env perl
# The organisation's live stream (DESIGN §5, SSE.md): GET /v1/incidents/stream
# through nginx to incidentd-sse. Response head and first frames, keys, 405,
# each event type with its exact payload (the event log's), ids increasing by
# one per org, heartbeats every `heartbeat` seconds (1 in tests), one org never
# seeing another's events, and two streams seeing the same events.
use strict;
use warnings;
use Test::More;
use JSON::PP ();
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);

use lib 't/lib';
use IncidentdTest;
use SSEClient;
use StreamCheck;

# incidentd-sse on a port: a subtest talks to it directly, past nginx
my $s = IncidentdTest->new(sse_tcp => 1);
my ($W, $R) = map { $s->key($_) } qw(write read);
my $PATH = '/v1/incidents/stream';
my $TS = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\z/;

sub call {
	my ($method, $path, $body, $key) = @_;
	return $s->req($method, $path, key => $key // $W, defined $body ? (body => $body) : ());
}

# The common part of every event: frame id and event name = data's seq and type.
sub event_ok {
	my ($e, $type, $seq, $name) = @_;
	ok($e, "$name: arrived") or return 0;
	my $d = ref $e->{data} eq 'HASH' ? $e->{data} : {};
	my $ok = is($e->{event}, $type, "$name: event: $type");
	$ok &&= is($e->{id}, $seq, "$name: id: $seq");
	$ok &&= is($d->{type}, $type, "$name: data.type");
	$ok &&= is($d->{seq}, $seq, "$name: data.seq equals the id");
	$ok &&= like($d->{at} // '', $TS, "$name: data.at is a timestamp");
	$ok &&= unlike($e->{data_raw}, qr/\n/, "$name: data is one line");
	$ok or diag("frame: $e->{raw}");
	return $ok;
}

# The stream's data is exactly the stored event with its envelope.
sub as_stored_ok {
	my ($e, $name) = @_;
	my ($row) = grep { $_->{seq} == $e->{id} } @{ stored_events($s, $e->{id} - 1) };
	is_deeply(strip_envelope($e->{data}), $row && $row->{payload}, "$name: data is the stored payload")
	    or diag("frame: $e->{raw}");
}

# Nothing but heartbeats for a while.
sub quiet_ok {
	my ($c, $name) = @_;
	my $e = $c->next_event(0.5);
	ok(!$e, "$name: no further event") or diag("unexpected: $e->{raw}");
}

subtest 'response head and first frames' => sub {
	is(call(POST => '/v1/tickets', { title => 'Before the stream' })->{status}, 201, 'an event before');
	my $seq = current_seq($s);
	cmp_ok($seq, '>', 0, "the org's sequence is $seq");
	my $c = stream_ok($s, $PATH, 'fresh stream', key => $R, fresh_id => $seq);
	quiet_ok($c, 'fresh stream');
	$c->close;

	my $fresh = $s->new_org('stream-fresh');
	my $z = stream_ok($s, $PATH, 'org without events', key => $fresh->{keys}{read}, fresh_id => 0);
	$z->close;

	my $t = stream_ok($s, '/v1/tickets/stream', '/v1/tickets/stream', key => $R, fresh_id => $seq);
	$t->close;
};

subtest 'keys: read suffices, missing or unknown is 401' => sub {
	for my $role (qw(read write admin)) {
		my $c = stream_ok($s, $PATH, "$role key", key => $s->key($role));
		$c->close;
	}
	my $b = stream_ok($s, $PATH, 'Authorization: Bearer',
		headers => { Authorization => "Bearer $R" });
	$b->close;
	error_ok($s->stream($PATH), 401, 'authentication_error', 'missing_authorization_material',
		'no key');
	error_ok($s->stream($PATH, key => 'not-a-key'), 401, 'authentication_error', 'invalid_api_key',
		'unknown key');
	error_ok($s->stream($PATH, key => $R . 'x'), 401, 'authentication_error', 'invalid_api_key',
		'a key with one character more');
	error_ok($s->stream($PATH, headers => { Authorization => 'Bearer nope' }), 401,
		'authentication_error', 'invalid_api_key', 'unknown Bearer key');
	error_ok($s->stream('/v1/tickets/stream'), 401, 'authentication_error',
		'missing_authorization_material', '/v1/tickets/stream without key');
};

subtest 'other methods: 405 with Allow: GET' => sub {
	for my $method (qw(POST PUT DELETE PATCH)) {
		my $r = $s->req($method => $PATH, key => $R, $method =~ /^P/ ? (body => {}) : ());
		error_ok($r, 405, 'invalid_request_error', 'method_not_allowed', "$method $PATH");
		is($r->{headers}{allow}, 'GET', "$method $PATH: Allow: GET");
	}
	my $r = $s->req(POST => '/incidents/status/whatever/stream');
	error_ok($r, 405, 'invalid_request_error', 'method_not_allowed', 'POST public stream');
	is($r->{headers}{allow}, 'GET', 'POST public stream: Allow: GET');
};

subtest 'incidentd-sse itself: X-Accel-Buffering, unknown paths' => sub {
	my $c = SSEClient->new(port => $s->sse_port, path => $PATH, headers => { 'x-api-key' => $R });
	is($c->{status}, 200, 'straight to incidentd-sse: 200');
	is($c->header('x-accel-buffering'), 'no', 'X-Accel-Buffering: no (nginx must not buffer)');
	is($c->header('cache-control'), 'no-store', 'Cache-Control: no-store');
	$c->close;
	my $n = SSEClient->new(port => $s->sse_port, path => '/v1/incidents/nope', headers => { 'x-api-key' => $R });
	is($n->{status}, 404, 'an unknown path: 404');
	is(($n->{json} || {})->{type}, 'not_found_error', 'an unknown path: not_found_error envelope')
	    or diag($n->{content});
};

subtest 'every event type, in order, with its payload' => sub {
	my $c = stream_ok($s, $PATH, 'stream', key => $R, fresh_id => current_seq($s));
	my $seq = current_seq($s);

	my $cr = call(POST => '/v1/tickets', { title => 'Streamed', description => 'first', priority => 'urgent' });
	is($cr->{status}, 201, 'create');
	my $id = $cr->{json}{id};
	my $e = $c->next_event(5);
	if (event_ok($e, 'incident.created', ++$seq, 'created')) {
		is_deeply([sort keys %{ $e->{data} }], [qw(at incident seq type)], 'created: type, seq, at, incident');
		is_deeply($e->{data}{incident}, $cr->{json}, 'created: the incident as the API returned it');
		as_stored_ok($e, 'created');
	}

	my $up = call(PATCH => "/v1/tickets/$id", { status => 'in_progress', priority => 'high' });
	is($up->{status}, 200, 'update status and priority');
	$e = $c->next_event(5);
	if (event_ok($e, 'incident.updated', ++$seq, 'updated')) {
		is_deeply($e->{data}{incident}, $up->{json}, 'updated: the incident after the change');
		is_deeply([@{ $e->{data}{changes} || {} }{qw(status priority)}],
			[[qw(open in_progress)], [qw(urgent high)]], 'updated: changes {field: [old, new]}');
		is(($e->{data}{reply} || {})->{status}, 'in_progress', 'updated: with the timeline entry');
		as_stored_ok($e, 'updated');
	}

	is(call(PATCH => "/v1/tickets/$id", { status => 'in_progress' })->{status}, 200, 'a no-op PATCH');
	my $msg = call(PATCH => "/v1/tickets/$id", { message => 'Crew on site.' });
	is($msg->{status}, 200, 'a PATCH with only a message');
	$e = $c->next_event(5);
	if (event_ok($e, 'incident.updated', ++$seq, 'message (the no-op sent nothing)')) {
		is_deeply($e->{data}{changes}, {}, 'message: changes {}');
		is(($e->{data}{reply} || {})->{body}, 'Crew on site.', 'message: the timeline entry');
		as_stored_ok($e, 'message');
	}

	my $rep = call(POST => "/v1/incidents/$id/replies", { body => 'Public reply.' });
	is($rep->{status}, 201, 'public reply');
	$e = $c->next_event(5);
	if (event_ok($e, 'incident.reply', ++$seq, 'reply')) {
		is_deeply(strip_envelope($e->{data}), { incident_id => $id, reply => $rep->{json} },
			'reply: {incident_id, reply}');
		as_stored_ok($e, 'reply');
	}

	my $int = call(POST => "/v1/incidents/$id/replies", { body => 'Internal note.', internal => JSON::PP::true });
	is($int->{status}, 201, 'internal reply');
	$e = $c->next_event(5);
	if (event_ok($e, 'incident.reply', ++$seq, 'internal reply (keys see it)')) {
		is_deeply($e->{data}{reply}, $int->{json}, 'internal reply: the reply');
	}

	is(call(DELETE => "/v1/tickets/$id")->{status}, 204, 'delete');
	$e = $c->next_event(5);
	if (event_ok($e, 'incident.deleted', ++$seq, 'deleted')) {
		is_deeply(strip_envelope($e->{data}), { incident_id => $id }, 'deleted: {incident_id}');
		as_stored_ok($e, 'deleted');
	}
	quiet_ok($c, 'after delete');
	ok(!$c->closed, 'the stream stays open');
	$c->close;
};

subtest 'a burst: ids increase by one, nothing lost' => sub {
	my $seq = current_seq($s);
	my $c = stream_ok($s, $PATH, 'stream', key => $R, fresh_id => $seq);
	my $n = 30;
	my $bad = grep { call(POST => '/v1/tickets', { title => "burst $_" })->{status} != 201 } 1 .. $n;
	is($bad, 0, "$n creates");
	my $events = $c->events_until_id($seq + $n, 10);
	ids_ok($events, $seq + 1, $seq + $n, 'burst');
	is_deeply([map { $_->{data}{incident}{title} } @$events], [map { "burst $_" } 1 .. $n],
		'burst: in write order');
	$c->close;
};

# Bytes incidentd-sse's socket of this client holds unsent (the kernel's
# send queue, /proc/net/tcp): it stops growing once the socket is full.
sub send_queue {
	my ($c) = @_;
	my $want = sprintf ':%04X 0100007F:%04X ', $s->sse_port, $c->socket->sockport;
	open my $f, '<', '/proc/net/tcp' or die "/proc/net/tcp: $!";
	while (<$f>) {
		return hex $1 if index($_, $want) >= 0 && /\s[0-9A-F]{2}\s([0-9A-F]{8}):/;
	}
	return -1;
}

# A live stream's frames go straight to its socket while nothing waits, and
# behind what waits once the socket is full: a client that stops reading
# (a 4 KiB receive buffer, straight to incidentd-sse so nginx buffers
# nothing) until incidentd-sse's socket is full and frames wait in its
# buffer gets, once it reads again, every frame whole, in order, with the
# heartbeats queued meanwhile in between.
subtest 'a stream that stops reading gets every frame, in order, when it reads again' => sub {
	my $seq = current_seq($s);
	my $c = SSEClient->new(port => $s->sse_port, path => $PATH, headers => { 'x-api-key' => $R },
		rcvbuf => 4096);
	is($c->{status}, 200, 'straight to incidentd-sse, a small receive buffer');
	my $retry = $c->next_frame(5);
	is($retry && $retry->{raw}, 'retry: 3000', 'retry first');
	my $live = $c->next_frame(5);
	is($live && $live->{raw}, "id: $seq", 'then live at the current id');
	# ~9 KB frames until the socket takes no more, then 5 that wait in
	# incidentd-sse's buffer (under client_buffer_cap)
	my $body = 'x' x 9000;
	my ($n, $bad, $queued, $full) = (0, 0, -1, 0);
	while ($n < 3000 && $full < 5) {
		$n++;
		$bad++ if call(POST => '/v1/tickets', { title => "full $n", description => $body })->{status} != 201;
		my $q = send_queue($c);
		$full++ if $full || ($q > 0 && $q == $queued);
		$queued = $q;
	}
	is($bad, 0, "$n large creates while the stream does not read");
	is($full, 5, "the socket filled up ($queued bytes unsent), 5 more frames wait behind it");
	my $events = $c->events_until_id($seq + $n, 20);
	ids_ok($events, $seq + 1, $seq + $n, 'after the pause');
	is_deeply([map { $_->{data}{incident}{title} } @$events], [map { "full $_" } 1 .. $n],
		'in write order');
	is(scalar(grep { ($_->{data}{incident}{description} // '') eq $body } @$events), $n,
		'every frame whole');
	call(POST => '/v1/tickets', { title => 'after the backlog' });
	my $e = $c->next_event(10);
	is($e && $e->{data}{incident}{title}, 'after the backlog', 'then live again');
	$c->close;
};

# An HTTP/1.0 client (no chunked encoding) straight to incidentd-sse: the
# frames, written past libevent, come without chunk framing.
subtest 'HTTP/1.0: frames without chunks' => sub {
	my $seq = current_seq($s);
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->sse_port, Proto => 'tcp')
	    or die "connect: $!";
	print $sock "GET $PATH HTTP/1.0\r\nx-api-key: $R\r\n\r\n";
	my $got = '';
	my $read_until = sub {
		my ($re) = @_;
		my $sel = IO::Select->new($sock);
		my $deadline = time + 10;
		while ($got !~ $re && time < $deadline) {
			$sel->can_read($deadline - time) or last;
			sysread($sock, $got, 65536, length $got) or last;
		}
		return $got =~ $re;
	};
	ok($read_until->(qr/\r\n\r\nretry: 3000\n\nid: $seq\n\n/), 'head, retry and id, unchunked')
	    or diag($got);
	unlike($got, qr/Transfer-Encoding/i, 'no Transfer-Encoding');
	call(POST => '/v1/tickets', { title => 'over HTTP/1.0' });
	my $n = $seq + 1;
	ok($read_until->(qr/\n\nid: $n\nevent: incident\.created\ndata: \{[^\n]*"over HTTP\/1\.0"[^\n]*\}\n\n/),
		'the event, one frame, unchunked') or diag($got);
	close $sock;
};

subtest 'heartbeats every second' => sub {
	my $c = stream_ok($s, $PATH, 'stream', key => $R, fresh_id => current_seq($s));
	my $t0 = time;
	my ($events) = $c->read_until(sub { 0 }, 4.5);
	is(scalar @$events, 0, 'no events meanwhile');
	my @beats = @{ $c->{heartbeats} };
	# On two busy cores (ASan, valgrind, a parallel test) one late timer
	# makes one gap long and the next short, so single gaps prove nothing.
	# The count and the mean gap are what heartbeat = 1 promises.
	ok(@beats >= 3 && @beats <= 6, scalar(@beats) . ' heartbeats in 4.5 s (3..6)');
	my @gaps = map { $beats[$_] - $beats[$_ - 1] } 1 .. $#beats;
	my $mean = @gaps ? ($beats[-1] - $beats[0]) / @gaps : 0;
	ok($mean >= 0.6 && $mean <= 1.5, sprintf('on average 1 s apart (%.2f s)', $mean))
	    or diag('gaps: ' . join ' ', map { sprintf '%.2f', $_ } @gaps);
	ok(@beats && $beats[0] - $t0 < 2, sprintf('the first within 2 s (%.2f)', ($beats[0] // $t0 + 99) - $t0));
	ok(!$c->closed, 'the stream is still open');
	$c->close;
};

subtest "one org's stream never sees another's events" => sub {
	my $b = $s->new_org('stream-b');
	my $seq_a = current_seq($s);
	my $seq_b = current_seq($s, $b->{id});
	my $ca = stream_ok($s, $PATH, 'org A', key => $R, fresh_id => $seq_a);
	my $cb = stream_ok($s, $PATH, 'org B', key => $b->{keys}{read}, fresh_id => $seq_b);
	is(call(POST => '/v1/tickets', { title => 'A1' })->{status}, 201, 'A writes');
	is(call(POST => '/v1/tickets', { title => 'A2' })->{status}, 201, 'A writes again');
	my $bw = call(POST => '/v1/tickets', { title => 'B1' }, $b->{keys}{write});
	is($bw->{status}, 201, 'B writes');
	my $eb = $cb->next_event(5);
	event_ok($eb, 'incident.created', $seq_b + 1, "B's first event is its own");
	is($eb && $eb->{data}{incident}{title}, 'B1', "B sees B1, not A's writes");
	quiet_ok($cb, 'B');
	my $events = $ca->events_until_id($seq_a + 2, 5);
	ids_ok($events, $seq_a + 1, $seq_a + 2, 'A');
	is_deeply([map { $_->{data}{incident}{title} } @$events], [qw(A1 A2)], "A sees its own two");
	quiet_ok($ca, 'A');
	$_->close for $ca, $cb;
};

subtest 'two streams of one org get the same events' => sub {
	my $seq = current_seq($s);
	my @c = map { stream_ok($s, $PATH, "stream $_", key => $R, fresh_id => $seq) } 1 .. 2;
	my $id = call(POST => '/v1/tickets', { title => 'Shared' })->{json}{id};
	call(PATCH => "/v1/tickets/$id", { status => 'acknowledged' });
	call(POST => "/v1/incidents/$id/replies", { body => 'shared reply' });
	call(DELETE => "/v1/tickets/$id");
	my $last = current_seq($s);
	is($last, $seq + 4, 'four events written');
	my @got = map { scalar $_->events_until_id($last, 5) } @c;
	ids_ok($got[0], $seq + 1, $last, 'stream 1');
	is_deeply([map { [$_->{id}, $_->{event}, $_->{data_raw}] } @{ $got[1] }],
		[map { [$_->{id}, $_->{event}, $_->{data_raw}] } @{ $got[0] }], 'stream 2: the same frames');
	$_->close for @c;
};

$s->finish;
done_testing;
