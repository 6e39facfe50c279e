#!/usr/bin/env perl
# SIGHUP reloads the configuration, but keys that need a restart (database,
# redis, listen, socket_mode, sse_listen, sql_dir) keep their running values
# in the workers and in incidentd-sse alike, with a warning for each that
# changed, and in an incidentd-sse or incidentd-hooks started after the
# file changed; reloadable keys take effect.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);

use lib 't/lib';
use IncidentdTest;
use HookReceiver;
use HookCheck;

my $s = IncidentdTest->new(workers => 2);
my $W = $s->key('write');

my $stream = $s->stream('/v1/incidents/stream', key => $s->key('read'));
is $stream->{status}, 200, 'a stream is open before the reload';

# incidentd-hooks reads the file itself when it starts: it must have read
# the running configuration before the file changes (under load it can
# still be starting here, and would start on the new one).
$s->_poll('incidentd-hooks to have started', sub { $s->log =~ /msg="incidentd-hooks started"/ });

ok $s->reload(
	database => 'host=/nonexistent port=1 user=nobody dbname=nowhere',
	redis => '127.0.0.1:1',
	sql_dir => '/nonexistent',
	log_level => 'warn',
	webhook_allow_private => 'yes', # for the receiver below
), 'SIGHUP replaced the workers';

my @bad;
for my $n (1 .. 10) {
	my $r = $s->req(POST => '/v1/tickets', key => $W, body => { title => "after reload $n" });
	push @bad, "$r->{status} $r->{content}" if $r->{status} != 201;
}
is scalar(@bad), 0, 'writes succeed on the running database after the reload' or diag join "\n", @bad;
my $h = $s->req(GET => '/healthz');
is $h->{status}, 200, '/healthz: PostgreSQL and Redis are the running ones' or diag $h->{content};

my $event = $stream->next_event(10);
ok $event && $event->{event} eq 'incident.created', 'the open stream still receives events';

# incidentd-sse and incidentd-hooks started after the file changed (killed
# here, and started again by the master) run on the running database and
# Redis too, not on the file's new ones
my $rx = HookReceiver->new(dir => $s->dir);
new_hooks($s, $rx->url('/after-restart'));
$s->kill_sse;
$s->kill_hooks;
my $again = $s->stream('/v1/incidents/stream', key => $s->key('read'));
is $again->{status}, 200, 'a stream opens on the new incidentd-sse';
my $r = $s->req(POST => '/v1/tickets', key => $W, body => { title => 'after the helpers restarted' });
is $r->{status}, 201, 'a write after the helpers restarted';
$event = $again->next_event(10);
ok $event && $event->{event} eq 'incident.created', 'the new incidentd-sse reads the running database and Redis';
$rx->wait_for(sub { @{ $_[0] } >= 1 }, 'a delivery by the new incidentd-hooks', path => '/after-restart');
pass 'the new incidentd-hooks delivers from the running database';
$again->close;
$rx->stop;

my $log = $s->log;
for my $key (qw(database redis sql_dir)) {
	like $log, qr/^.* warn pid=\d+ key=$key msg="changed; takes effect after a restart"$/m,
	    "a warning names $key";
}
unlike $log, qr/key=(?:listen|socket_mode|sse_listen|log_level) msg="changed/,
    'no warning for unchanged keys or reloadable ones';
unlike $log, qr/nonexistent|nowhere/, 'the new values are not logged';

# log_level = warn took effect: request lines (info) are no longer logged.
my $lines_before = () = $s->log =~ /route=/g;
$s->req(GET => '/v1/tickets', key => $W);
my $lines_after = () = $s->log =~ /route=/g;
is $lines_after, $lines_before, 'a reloadable key (log_level) took effect';

$stream->close;
# A stop that comes while the master's children are still starting: the
# master signals incidentd-sse and incidentd-hooks at once, before they can
# have their handlers; they must take it as a stop, not die of it. (The
# configuration now names a database and a Redis that are not there, so this
# also shows that a stop does not wait for PostgreSQL to come back.)
subtest 'SIGTERM while incidentd-sse and incidentd-hooks are starting' => sub {
	$s->stop_incidentd;
	my $from = length $s->log;
	for my $round (1 .. 3) {
		my $started = () = $s->log =~ /msg="incidentd started"/g;
		$s->start_incidentd(wait => 0);
		# the master's own handlers are in place once it says so; it forks
		# its children right after
		my $deadline = time + 10 * IncidentdTest::slowdown();
		sleep 0.005 while (() = $s->log =~ /msg="incidentd started"/g) == $started && time < $deadline;
		$s->stop_incidentd;
	}
	my @killed = substr($s->log, $from) =~ /^.*killed by signal.*$/mg;
	is_deeply \@killed, [], 'no child killed by the stop while starting';
	$s->start_incidentd;
};

$s->finish;
done_testing;
