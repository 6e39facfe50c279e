#!/usr/bin/env perl
# /healthz needs no key, so it must not let anyone tie up workers: with Redis
# hung (SIGSTOP: connects succeed, PING times out) a worker makes at most about
# one attempt per second, and answers the rest from what it last saw.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use IncidentdTest;

# One worker: every /healthz lands on it, so its attempts are countable.
my $s = IncidentdTest->new(workers => 1);
my $redis_pid;
my $stopped = 0;

sub resume_redis {
	kill 'CONT', $redis_pid if $stopped && $redis_pid;
	$stopped = 0;
}
# A test that dies or is interrupted must not leave Redis stopped: the
# harness's END could not stop it then.
END { resume_redis() }

sub attempts_in_log {
	my @lines = grep { /redis (?:command failed|unavailable)/ } split /\n/, $s->log;
	return scalar @lines;
}

is $s->req(GET => '/healthz')->{status}, 200, 'healthy before the fault';

$redis_pid = do {
	open my $fh, '<', $s->dir . '/redis.pid' or die "redis.pid: $!";
	my $pid = <$fh>;
	chomp $pid;
	$pid;
};
like $redis_pid, qr/^\d+$/, 'the test Redis has a pid';

my $requests = 15;
my (@statuses, $elapsed, $attempts);
my $ok = eval {
	my $before = attempts_in_log();
	kill 'STOP', $redis_pid or die "kill -STOP $redis_pid: $!";
	$stopped = 1;
	my $t0 = time;
	push @statuses, $s->req(GET => '/healthz')->{status} for 1 .. $requests;
	$elapsed = time - $t0;
	$attempts = attempts_in_log() - $before;
	1;
};
my $err = $@;
resume_redis();
die $err unless $ok;

is scalar(grep { $_ == 503 } @statuses), $requests, 'every /healthz with Redis hung answers 503'
    or diag "statuses: @statuses";
# The old code reconnected on every call: one 300 ms timeout per request, so
# $requests attempts in about 0.3 s each — far above one per second.
my $bound = int($elapsed) + 2;
cmp_ok $attempts, '<=', $bound,
    sprintf('%d Redis attempts in %.2fs: at most about one per second', $attempts, $elapsed);
cmp_ok $attempts, '>=', 1, 'the hung Redis was noticed';

# Redis is back: health recovers within a bounded time.
my $healthy = 0;
my $deadline = time + 15;
until ($healthy || time > $deadline) {
	$healthy = $s->req(GET => '/healthz')->{status} == 200;
	Time::HiRes::sleep(0.1) unless $healthy;
}
ok $healthy, '/healthz answers 200 again once Redis resumes';

$s->finish;
done_testing;
