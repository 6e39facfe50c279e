#!/usr/bin/env perl
# incidentd-sse resolves host names without stalling its loop (libpq and
# hiredis would call a blocking getaddrinfo). A second incidentd-sse runs on
# the test's stack with `redis = redis.stub.test:PORT` and a resolv_conf
# naming a stub DNS server that answers after 3 s. When its Redis connection
# drops, the reconnect resolves the name again; meanwhile its streams keep
# their heartbeats, a new stream opens at once, and no event is lost.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

use lib 't/lib';
use IncidentdTest;
use SSEClient;
use StreamCheck;
use StubDNS;

my $DELAY = 3;    # seconds the stub takes to answer: far above the 1 s heartbeat
my $PATH = '/v1/incidents/stream';

my $s = IncidentdTest->new;
my ($W, $R) = map { $s->key($_) } qw(write read);
my $dir = $s->dir;
my $dns = StubDNS->new(delay => $DELAY, log => "$dir/dns.log");

# The stack's own config, with Redis by name and the stub as the resolver.
my $port = $s->_free_port;
my $conf = "$dir/sse2.conf";
open my $in, '<', $s->config_file or die $!;
open my $out, '>', $conf or die $!;
while (<$in>) {
	next if /^\s*(redis|sse_listen|resolv_conf)\s*=/;
	print $out $_;
}
printf $out "redis = redis.stub.test:%d\nsse_listen = 127.0.0.1:%d\nresolv_conf = %s/resolv.conf\n",
	$s->redis_port, $port, $dir;
close $out;
open my $rc, '>', "$dir/resolv.conf" or die $!;
printf $rc "nameserver 127.0.0.1:%d\noptions timeout:5 attempts:1\n", $dns->port;
close $rc;

$s->_spawn('sse2', "$dir/sse2.log", [ $s->build . '/src/incidentd-sse', '-c', $conf ]);


sub sse2_log { $s->_slurp("$dir/sse2.log") }

sub stream2 {
	return SSEClient->new(port => $port, path => $PATH, headers => { 'x-api-key' => $R }, timeout => 5);
}

sub create {
	my ($title) = @_;
	return $s->req(POST => '/v1/tickets', key => $W, body => { title => $title })->{status};
}

ok(eventually(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") }, 10),
	'the second incidentd-sse listens');
ok(eventually(sub { sse2_log() =~ /sse: Redis connected/ }, 10 + $DELAY),
	'it reaches Redis by name, through the stub resolver')
    or diag(sse2_log());
is($dns->queries, 1, 'one lookup so far');

my $seq = current_seq($s);
my $first = stream2();
is($first->{status}, 200, 'a stream on it');
is(create('through Redis'), 201, 'a write');
my $e = $first->next_event(5);
is($e && $e->{id}, $seq + 1, 'arrives');

# Drop its Redis connection: the reconnect looks the name up again (3 s).
my $redis = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $s->redis_port) or die $!;
print $redis "CLIENT KILL TYPE pubsub\r\n";
my $killed = <$redis>;
like($killed // '', qr/^:[1-9]/, 'the subscriptions are cut');
ok(eventually(sub { $dns->queries >= 2 }, 5), 'the reconnect asks the stub again');

my $t0 = time;
my $second = stream2();
my $opened = time - $t0;
is($second->{status}, 200, 'a new stream meanwhile');
cmp_ok($opened, '<', $DELAY / 2, sprintf('opens at once (%.2f s) while the name resolves', $opened));
is(create('while resolving'), 201, 'a write while resolving');
my @beats_before = @{ $first->{heartbeats} };
my $got = $first->events_until_id($seq + 2, 10);
is(scalar(grep { $_->{id} == $seq + 2 } @$got), 1, 'the first stream gets it, once');
my $got_b = $second->events_until_id($seq + 2, 10);
is(scalar(grep { $_->{id} == $seq + 2 } @$got_b), 1, 'the new stream too');

# Heartbeats went on through the lookup (heartbeat = 1 s): watch the first
# stream until the lookup is well over.
my $watch_until = $t0 + $DELAY + 0.5;
$first->read_until(sub { 0 }, $watch_until - time) if $watch_until > time;
my @beats = grep { $_ >= $t0 - 0.1 } @{ $first->{heartbeats} };
my @gaps = map { $beats[$_] - $beats[ $_ - 1 ] } 1 .. $#beats;
my ($longest) = sort { $b <=> $a } @gaps;
ok(@beats >= $DELAY - 1, scalar(@beats) . ' heartbeats since the connection dropped');
cmp_ok($longest // 99, '<', $DELAY, sprintf('no gap as long as the lookup (longest %.2f s)', $longest // -1));

ok(eventually(sub { (() = sse2_log() =~ /sse: Redis connected/g) >= 2 }, 10), 'it reconnects to Redis');
is(create('after'), 201, 'a write afterwards');
$e = $first->next_event(5);
is($e && $e->{id}, $seq + 3, 'arrives');
$first->close;
$second->close;

is($s->_stop_child('sse2', 'TERM'), 0, 'the second incidentd-sse stops cleanly');
unlike(sse2_log(), qr/AddressSanitizer|LeakSanitizer|runtime error:/, 'no sanitizer report');
$dns->stop;
$s->finish;
done_testing;
