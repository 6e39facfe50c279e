#!/usr/bin/perl
# Redis restarts (a deploy, a failover, script/server bringing it back): a
# worker's connection from before is dead, though nothing told the worker.
# The first write afterwards must still be published at once, not left to
# the streams' 2 s probe, and /healthz must not call Redis down for it.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Select;
use IO::Socket::INET;

use IncidentdTest;

# One worker: the connection the test makes stale is the one that serves.
my $s = IncidentdTest->new(workers => 1);
my $W = $s->key('write');
my $CHANNEL = 'incidentd:org:' . $s->org_id;

sub subscribe {
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->redis_port, Proto => 'tcp',
		Timeout => 5) or die "connect to Redis: $!";
	print $sock "SUBSCRIBE $CHANNEL\r\n";
	my $c = { sock => $sock, buf => '' };
	wait_for($c, qr/subscribe\r\n.*\r\n:1\r\n/s, 5) or die "no SUBSCRIBE confirmation\n";
	return $c;
}

# Reads until $re matches what arrived (1), or $timeout seconds pass (0).
sub wait_for {
	my ($c, $re, $timeout) = @_;
	my $sel = IO::Select->new($c->{sock});
	my $deadline = time + $timeout;
	until ($c->{buf} =~ $re) {
		my $left = $deadline - time;
		return 0 if $left <= 0 || !$sel->can_read($left);
		sysread($c->{sock}, $c->{buf}, 65536, length $c->{buf}) or return 0;
	}
	return 1;
}

sub create {
	my ($title) = @_;
	return $s->req(POST => '/v1/tickets', key => $W, body => { title => $title })->{status};
}

my $sub = subscribe();
is(create('before the restart'), 201, 'a write');
ok(wait_for($sub, qr/before the restart/, 5), 'is published (the worker now holds a connection)');

$s->stop_redis;
$s->start_redis;
$sub = subscribe();
is(create('first after the restart'), 201, 'the first write after Redis restarted');
ok(wait_for($sub, qr/first after the restart/, 1), 'is published at once, on a fresh connection');

is(create('again'), 201, 'another write');
ok(wait_for($sub, qr/again/, 5), 'is published (the connection is live again)');
$s->stop_redis;
$s->start_redis;
my $hz = $s->req(GET => '/healthz');
is($hz->{status}, 200, '/healthz right after a restart: 200') or diag($hz->{content});

$s->finish;
done_testing;
