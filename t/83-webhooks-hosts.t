#!/usr/bin/env perl
# Two hosts (DESIGN §9): both run incidentd-hooks on the shared PostgreSQL
# and Redis; the leases give each subscription to one of them, so every
# event is delivered exactly once between the two, and when a host dies the
# survivor takes its subscriptions over within 30 s, from the stored cursor.
# A host that joins later is given its share by the one holding them all.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use IncidentdTest;
use HookReceiver;
use HookCheck;
use StreamCheck;

my $A = IncidentdTest->new;
my $B = $A->add_host;
my $rx = HookReceiver->new(dir => $A->dir);
my $W = $A->key('write');
my @paths = map { "/h$_" } 1 .. 6;

ok($A->hooks_pid && $B->hooks_pid && $A->hooks_pid != $B->hooks_pid, 'each host runs incidentd-hooks');

sub create {
	my ($host, $title) = @_;
	my $r = $host->req(POST => '/v1/tickets', key => $W, body => { title => $title });
	is($r->{status}, 201, "create '$title'") or diag($r->{content});
}

sub seqs_at {
	my ($path) = @_;
	return map { (split /-/, $_->{headers}{'webhook-id'})[1] } @{ $rx->requests($path) };
}

# Both incidentd-hooks are connected (and LISTENing) before the
# subscriptions come, and these come at once: a host still starting, or
# subscriptions made one by one, let the first host to hear of each take
# them all (a red CI run: "0 of 6 subscriptions held by B").
for my $host ($A, $B) {
	$A->_poll('incidentd-hooks connected to PostgreSQL on each host', sub {
		my $pid = $host->hooks_pid or return 0;
		return $host->log =~ /pid=$pid msg="sse: PostgreSQL connected"/;
	});
}
my @hooks = @{ new_hooks($A, map { $rx->url($_) } @paths) };
my $from = current_seq($A);
# both hosts take leases at their next tick
$A->_poll('every subscription leased', sub {
	!grep { hook_row($A, $_->{id})->{lease_owner} eq '' } @hooks });
my %owners = map { (split /:/, hook_row($A, $_->{id})->{lease_owner})[1] => 1 } @hooks;
note('lease holders (pids): ' . join(' ', sort keys %owners));

create($_ % 2 ? $A : $B, "two hosts $_") for 1 .. 20;
for my $path (@paths) {
	$rx->wait_for(sub { @{ $_[0] } >= 20 }, "20 deliveries at $path", path => $path);
}
for my $path (@paths) {
	is_deeply([ seqs_at($path) ], [ $from + 1 .. $from + 20 ], "$path: each event exactly once, in order");
}

# B dies (its whole process group, as a host that loses power): its leases
# stay until they expire, then A takes them.
my $b_pid = $B->hooks_pid;
my @on_b = grep { (split /:/, hook_row($A, $_->{id})->{lease_owner})[1] == $b_pid } @hooks;
ok(@on_b > 0 && @on_b < @hooks, scalar(@on_b) . ' of ' . scalar(@hooks) . ' subscriptions held by B: the hosts share them');
my $master = delete $B->{children}{incidentd};
kill 'KILL', -$master;
waitpid $master, 0;
my $t0 = time;
create($A, "after B died $_") for 1 .. 5;
for my $path (@paths) {
	$rx->wait_for(sub { @{ $_[0] } >= 25 }, "25 deliveries at $path", path => $path, timeout => 60);
}
my $took = time - $t0;
ok($took < 30 + 3, sprintf('the survivor delivered everything within 30 s (%.1f s)', $took));
for my $path (@paths) {
	my @seqs = seqs_at($path);
	is_deeply([ @seqs[0 .. 19] ], [ $from + 1 .. $from + 20 ], "$path: the first 20 once");
	my %n;
	$n{$_}++ for @seqs;
	ok(!(grep { !$n{$_} } $from + 21 .. $from + 25), "$path: the 5 after B died arrived");
}
is(scalar(grep { (split /:/, hook_row($A, $_->{id})->{lease_owner})[1] == $A->hooks_pid } @hooks),
	scalar @hooks, 'A holds every lease now');

# A host that comes up now gets its share (6 over 2 processes): A gives up
# three once what it delivered is written, and the newcomer takes them and
# goes on from their cursors.  Events made meanwhile arrive exactly once.
my $C = $A->add_host;
my $mid = current_seq($A);
create($A, "while C joins $_") for 1 .. 5;
my $held_by = sub {
	my ($host) = @_;
	my $pid = $host->hooks_pid or return 0;
	return scalar grep { ((split /:/, hook_row($A, $_->{id})->{lease_owner})[1] // 0) == $pid } @hooks;
};
$t0 = time;
$A->_poll('C holds 3 subscriptions and A 3', sub { $held_by->($C) == 3 && $held_by->($A) == 3 },
	sub { 'C holds ' . $held_by->($C) . ', A ' . $held_by->($A) });
note(sprintf('balanced within %.1f s', time - $t0));
like($A->log, qr/msg="hooks: lease over this process's share \(3\), given up"/, "A's log says why");
create($C, "after C joined $_") for 1 .. 5;
for my $path (@paths) {
	$rx->wait_for(sub { grep({ (split /-/, $_->{headers}{'webhook-id'})[1] == $mid + 10 } @{ $_[0] }) },
		"the 10th event since C came, at $path", path => $path, timeout => 30);
}
for my $path (@paths) {
	is_deeply([ grep { $_ > $mid } seqs_at($path) ], [ $mid + 1 .. $mid + 10 ],
		"$path: the events since C came, each exactly once, in order");
}

$rx->stop;
$A->finish;
done_testing;
