#!/usr/bin/env perl
# Bad input on the stream routes: garbage Last-Event-IDs, huge headers, long
# keys, clients that connect and vanish in a loop (before and after the
# response head). Each gets a clear 4xx or a clean close; incidentd-sse
# neither leaks descriptors nor stalls the streams that behave.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

use lib 't/lib';
use IncidentdTest;
use StreamCheck;

my $s = IncidentdTest->new;
my $R = $s->key('read');
my $W = $s->key('write');
my $PATH = '/v1/incidents/stream';

sub open_fds {
	my $pid = $s->sse_pid or return -1;
	opendir(my $dh, "/proc/$pid/fd") or return -1;
	my $n = grep { /^\d+$/ } readdir $dh;
	closedir $dh;
	return $n;
}

# Polls until incidentd-sse holds at most $max descriptors.
sub fds_settle {
	my ($max) = @_;
	my $n;
	my $deadline = time + 10;
	while (time < $deadline) {
		$n = open_fds();
		return $n if $n <= $max;
		sleep 0.1;
	}
	return $n;
}

subtest 'garbage Last-Event-IDs are 400 envelopes' => sub {
	for my $bad ('-1', '1e5', '0x10', ' 7', '7 ', '12345678901234567', "\x{ff}", 'abc', '') {
		(my $shown = $bad) =~ s/([^\x21-\x7e])/sprintf('\\x%02x', ord $1)/ge;
		my $c = $s->stream($PATH, key => $R, headers => { 'Last-Event-ID' => $bad });
		if ($bad eq '' || $bad =~ /^ | $/) {
			# nginx and HTTP parsers trim header whitespace; an empty or
			# trimmed id is either accepted as fresh/valid or refused: never a 5xx
			ok($c->{status} == 200 || $c->{status} == 400, "Last-Event-ID '$shown': 200 or 400");
		} else {
			error_ok($c, 400, 'invalid_request_error', 'invalid_last_event_id',
				"Last-Event-ID '$shown'");
		}
		$c->close;
	}
	my $q = $s->stream("$PATH?last_event_id=%2D3", key => $R);
	error_ok($q, 400, 'invalid_request_error', 'invalid_last_event_id', '?last_event_id=-3');
	is($q->{json}{errors}[0]{source}{parameter}, 'last_event_id', 'names the parameter');
};

subtest 'huge headers and keys get a clear 4xx' => sub {
	my $huge = $s->stream($PATH, key => $R, headers => { 'X-Filler' => 'x' x 40_000 });
	ok($huge->{status} == 400 || $huge->{status} == 431 || $huge->{status} == 494,
		"a 40 KB header: $huge->{status}");
	is(ref $huge->{json}, 'HASH', 'answered with the JSON envelope');
	my $long = $s->stream($PATH, key => 'k' x 3000);
	error_ok($long, 401, 'authentication_error', 'invalid_api_key', 'a 3,000-character key');
	my $token = $s->stream('/incidents/status/' . ('a' x 200) . '/stream');
	error_ok($token, 404, 'not_found_error', 'not_found', 'an over-long token');
};

subtest 'clients that connect and vanish leak nothing and stall no one' => sub {
	my $steady = stream_ok($s, $PATH, 'a steady stream', key => $R);
	my $baseline = fds_settle(1_000_000);
	my $port = $s->port;
	for my $i (1 .. 150) {
		# before any answer: request sent, socket closed at once
		my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
			Proto => 'tcp') or die "connect: $!";
		print $sock "GET $PATH HTTP/1.1\r\nHost: t\r\nx-api-key: $R\r\n\r\n";
		close $sock;
		# after the head: a real stream, dropped after its first frame
		my $c = $s->stream($PATH, key => $R);
		$c->next_frame(2);
		$c->close;
	}
	my $after = fds_settle($baseline + 2);
	cmp_ok($after, '<=', $baseline + 2,
		"incidentd-sse descriptors back to baseline ($baseline) after 300 vanishing clients");
	my $id = $s->req(POST => '/v1/tickets', key => $W, body => { title => 'still here' })->{json}{id};
	my $e = $steady->next_event(10);
	is($e && $e->{event}, 'incident.created', 'the steady stream still gets events');
	is($e && $e->{data}{incident}{id}, $id, 'the right one');
	my $fresh = stream_ok($s, $PATH, 'a new stream after the storm', key => $R);
	$_->close for $steady, $fresh;
	unlike($s->log, qr/sse \d+ (killed|exited)/, 'incidentd-sse never died');
};

$s->finish;
done_testing;
