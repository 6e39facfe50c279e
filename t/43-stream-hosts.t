#!/usr/bin/env perl
# Two hosts (DESIGN §1, nginx/multi-host.conf): each runs its own nginx,
# incidentd and incidentd-sse on the shared PostgreSQL and Redis. An event
# written through host A reaches streams held on host B, and the other way
# round, in the same order and with the same ids on both.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use IncidentdTest;
use StreamCheck;

# A's incidentd-sse listens on a unix socket (as production's), B's on a
# port: both ways of sse_listen behind nginx.
my $A = IncidentdTest->new;
my $B = $A->add_host(sse_tcp => 1);
my ($W, $R) = map { $A->key($_) } qw(write read);
my $PATH = '/v1/incidents/stream';

isnt($B->url, $A->url, 'host B has its own nginx');
like($A->sse_listen, qr{^unix:/.*/sse\.sock$}, 'A: incidentd-sse on a unix socket');
ok(-S $A->sse_socket, 'which exists');
is(sprintf('%04o', (stat $A->sse_socket)[2] & 07777), '0660', 'with socket_mode (nginx gets through)');
like($B->sse_listen, qr/^127\.0\.0\.1:\d+$/, 'B: incidentd-sse on a port of its own');
ok($B->sse_pid && $B->sse_pid != $A->sse_pid, "and its own incidentd-sse process");
is($B->req(GET => '/healthz')->{status}, 200, 'host B is healthy');

sub write_on {
	my ($host, $title) = @_;
	my $t0 = time;
	my $r = $host->req(POST => '/v1/tickets', key => $W, body => { title => $title });
	is($r->{status}, 201, "create '$title' through " . ($host == $A ? 'A' : 'B'));
	return $t0;
}

subtest 'a write through one host reaches streams on both' => sub {
	my $seq = current_seq($A);
	my $on_a = stream_ok($A, $PATH, 'stream on A', key => $R, fresh_id => $seq);
	my $on_b = stream_ok($B, $PATH, 'stream on B', key => $R, fresh_id => $seq);

	my $t0 = write_on($A, 'written on A');
	for ([A => $on_a], [B => $on_b]) {
		my ($name, $c) = @$_;
		my $e = $c->next_event(5);
		is($e && $e->{id}, $seq + 1, "stream on $name: the event written on A, id " . ($seq + 1));
		is($e && $e->{data}{incident}{title}, 'written on A', "stream on $name: its data");
		# memcheck slows both hosts' processes (IncidentdTest::slowdown)
		my $bound = 2 * IncidentdTest::slowdown();
		ok($e && $e->{t} - $t0 < $bound, sprintf("stream on $name: within $bound s of the request (%.3f s)",
			$e ? $e->{t} - $t0 : -1));
	}

	write_on($B, 'written on B');
	for ([A => $on_a], [B => $on_b]) {
		my ($name, $c) = @$_;
		my $e = $c->next_event(5);
		is($e && $e->{id}, $seq + 2, "stream on $name: the event written on B, id " . ($seq + 2));
		is($e && $e->{data}{incident}{title}, 'written on B', "stream on $name: its data");
	}
	$_->close for $on_a, $on_b;
};

subtest 'writes alternating between the hosts: same order, same ids, on both' => sub {
	my $seq = current_seq($A);
	my @streams = (stream_ok($A, $PATH, 'A', key => $R, fresh_id => $seq),
		stream_ok($B, $PATH, 'B', key => $R, fresh_id => $seq));
	my $n = 20;
	my $bad = grep {
		($_ % 2 ? $A : $B)->req(POST => '/v1/tickets', key => $W, body => { title => "alt $_" })->{status} != 201
	} 1 .. $n;
	is($bad, 0, "$n creates, alternating hosts");
	my @got = map { scalar $_->events_until_id($seq + $n, 10) } @streams;
	ids_ok($got[0], $seq + 1, $seq + $n, 'stream on A');
	ids_ok($got[1], $seq + 1, $seq + $n, 'stream on B');
	is_deeply([map { $_->{data_raw} } @{ $got[1] }], [map { $_->{data_raw} } @{ $got[0] }],
		'both streams carry the same data');
	is_deeply([map { $_->{data}{incident}{title} } @{ $got[0] }], [map { "alt $_" } 1 .. $n],
		'in write order');
	$_->close for @streams;
};

subtest "a public stream on B follows an incident written through A" => sub {
	my $inc = $A->req(POST => '/v1/tickets', key => $W, body => { title => 'Cross-host public' })->{json};
	my $c = stream_ok($B, "/incidents/status/$inc->{customer_token}/stream", 'public stream on B',
		fresh_id => current_seq($A));
	$A->req(PATCH => "/v1/tickets/$inc->{id}", key => $W, body => { status => 'identified' });
	my $e = $c->next_event(5);
	is($e && $e->{event}, 'incident.updated', 'the status change written on A');
	is($e && $e->{data}{status}, 'identified', 'with the new status');
	$c->close;
};

subtest 'resuming on the other host (a host went away)' => sub {
	my $seq = current_seq($A);
	my $c = stream_ok($A, $PATH, 'stream on A', key => $R, fresh_id => $seq);
	write_on($A, "before the move $_") for 1 .. 3;
	my $got = $c->events_until_id($seq + 3, 5);
	ids_ok($got, $seq + 1, $seq + 3, 'on A');
	$c->close;
	write_on($A, "while moving $_") for 1 .. 3;
	my $moved = stream_ok($B, $PATH, 'resumed on B', key => $R,
		headers => { 'Last-Event-ID' => $c->last_id });
	ids_ok(scalar $moved->events_until_id($seq + 6, 5), $seq + 4, $seq + 6, 'replayed on B');
	write_on($B, 'after the move');
	my $e = $moved->next_event(5);
	is($e && $e->{id}, $seq + 7, 'then live on B');
	$moved->close;
};

$A->finish;
done_testing;
