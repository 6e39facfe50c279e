#!/usr/bin/env perl
# hooks_processes = 2: the master runs two incidentd-hooks, each in its own
# slot of the status page.  They split the subscriptions by their shares (3
# and 3 of 6), deliver every event exactly once between them, /metrics sums
# their counters, and one killed is replaced in its slot while the other
# goes on.  A reload changes the count (1, 3, none, 2) and no event is lost
# or sent twice.
use strict;
use warnings;
use Test::More;

use lib 't/lib';
use IncidentdTest;
use HookReceiver;
use HookCheck;
use StreamCheck;

my $s = IncidentdTest->new(config => { hooks_processes => 2 });
my $rx = HookReceiver->new(dir => $s->dir);
my $W = $s->key('write');
my @paths = map { "/p$_" } 1 .. 6;

sub create {
	my ($title) = @_;
	my $r = $s->req(POST => '/v1/tickets', key => $W, body => { title => $title });
	is($r->{status}, 201, "create '$title'") or diag($r->{content});
}

sub seqs_at {
	my ($path) = @_;
	return map { (split /-/, $_->{headers}{'webhook-id'})[1] } @{ $rx->requests($path) };
}

sub delivered {
	my $r = $s->req(GET => '/metrics');
	return $r->{content} =~ /^incidentd_webhook_deliveries_total\{outcome="delivered"\} (\d+)$/m ? $1 : undef;
}

sub held_by {
	my ($pid) = @_;
	return scalar grep { ((split /:/, hook_row($s, $_)->{lease_owner})[1] // 0) == $pid } @_[1 .. $#_];
}

my @pids = $s->hooks_pids;
is(scalar @pids, 2, 'the master runs two incidentd-hooks');
for my $pid (@pids) {
	$s->_poll("incidentd-hooks $pid connected to PostgreSQL",
		sub { $s->log =~ /pid=$pid msg="sse: PostgreSQL connected"/ });
}
my @ids = map { $_->{id} } @{ new_hooks($s, map { $rx->url($_) } @paths) };
$s->_poll('each process holds its share, 3 of the 6',
	sub { held_by($pids[0], @ids) == 3 && held_by($pids[1], @ids) == 3 },
	sub { join ' and ', map { held_by($_, @ids) } @pids });
pass('3 and 3');

my $from = current_seq($s);
create("two processes $_") for 1 .. 10;
for my $path (@paths) {
	$rx->wait_for(sub { @{ $_[0] } >= 10 }, "10 deliveries at $path", path => $path);
}
for my $path (@paths) {
	is_deeply([ seqs_at($path) ], [ $from + 1 .. $from + 10 ], "$path: each event exactly once, in order");
}
$s->_poll('/metrics counts both processes\' deliveries', sub { (delivered() // 0) == 60 },
	sub { 'delivered ' . (delivered() // 'none') });
pass('/metrics: 60 delivered, summed over the two');

# one killed: the master starts another in its slot; the other goes on
my $killed = $s->kill_hooks(pid => $pids[1]);
my @now = $s->hooks_pids;
ok(@now == 2 && !grep({ $_ == $killed } @now) && grep({ $_ == $pids[0] } @now),
	'a new incidentd-hooks in place of the killed one, the other untouched');
create("after the kill $_") for 1 .. 5;
for my $path (@paths) {
	$rx->wait_for(sub {
		my %seen = map { (split /-/, $_->{headers}{'webhook-id'})[1] => 1 } @{ $_[0] };
		return !grep { !$seen{$_} } $from + 11 .. $from + 15;
	}, "the 5 events after the kill at $path", path => $path, timeout => 60);
}
for my $path (@paths) {
	my @seqs = grep { $_ > $from + 10 } seqs_at($path);
	my %n;
	$n{$_}++ for @seqs;
	ok(!(grep { !$n{$_} } $from + 11 .. $from + 15), "$path: the 5 after the kill arrived");
}
ok((delivered() // 0) >= 90, 'the killed slot\'s counter goes on in its successor: ' . (delivered() // 'none'));

# hooks_processes and webhook_delivery take effect on a reload: the
# processes over the new count stop (handing their leases over), new ones
# start, and every event still arrives exactly once, in order.
sub processes { my @pids = $s->hooks_pids; return scalar @pids }

sub arrive_once {
	my ($what, $mark, $n) = @_;
	for my $path (@paths) {
		$rx->wait_for(sub {
			my %seen = map { (split /-/, $_->{headers}{'webhook-id'})[1] => 1 } @{ $_[0] };
			return !grep { !$seen{$_} } $mark + 1 .. $mark + $n;
		}, "$what at $path", path => $path, timeout => 60);
	}
	for my $path (@paths) {
		is_deeply([ grep { $_ > $mark } seqs_at($path) ], [ $mark + 1 .. $mark + $n ],
			"$path: $what exactly once, in order");
	}
}

ok($s->reload(hooks_processes => 1), 'reload with hooks_processes = 1');
$s->_poll('one incidentd-hooks left', sub { processes() == 1 }, sub { join ' ', $s->hooks_pids });
my ($one) = $s->hooks_pids;
ok((grep { $_ == $one } @now), 'the one left is one that ran before');
$s->_poll('it holds all 6', sub { held_by($one, @ids) == 6 }, sub { held_by($one, @ids) });
pass('one process holds all 6 subscriptions');
my $mark = current_seq($s);
create("one process $_") for 1 .. 3;
arrive_once('the 3 events with one process', $mark, 3);

ok($s->reload(hooks_processes => 3), 'reload with hooks_processes = 3');
$s->_poll('three incidentd-hooks', sub { processes() == 3 }, sub { join ' ', $s->hooks_pids });
my @three = $s->hooks_pids;
$s->_poll('each of the three holds 2 of the 6', sub { !grep { held_by($_, @ids) != 2 } @three },
	sub { join ' and ', map { held_by($_, @ids) } @three });
pass('2, 2 and 2');
$mark = current_seq($s);
create("three processes $_") for 1 .. 3;
arrive_once('the 3 events with three processes', $mark, 3);

ok($s->reload(webhook_delivery => 'no'), 'reload with webhook_delivery = no');
$s->_poll('no incidentd-hooks', sub { processes() == 0 }, sub { join ' ', $s->hooks_pids });
pass('no incidentd-hooks runs');
$mark = current_seq($s);
create("no delivery $_") for 1 .. 3;
ok($s->reload(webhook_delivery => 'yes', hooks_processes => 2), 'reload with webhook_delivery = yes');
$s->_poll('two incidentd-hooks again', sub { processes() == 2 }, sub { join ' ', $s->hooks_pids });
arrive_once('the 3 events made while none ran', $mark, 3);

$rx->stop;
$s->finish;
done_testing;
