#!/usr/bin/env perl
# webhook_allow_private = no (production's default, DESIGN §9): incidentd-hooks
# refuses to connect to a loopback, private or link-local address whatever
# the name resolved to, and says so in the delivery row; the URL is never
# logged.
use strict;
use warnings;
use Test::More;

use lib 't/lib';
use IncidentdTest;
use HookReceiver;
use HookCheck;
use StreamCheck;

my $s = IncidentdTest->new(webhook_allow_private => 0);
my $rx = HookReceiver->new(dir => $s->dir);
my $W = $s->key('write');

my %hooks = (
	name => new_hook($s, 'http://localhost:' . $rx->port . '/by-name'),
	literal => new_hook($s, $rx->url('/by-literal')),
);
my $seq = current_seq($s) + 1;
my $r = $s->req(POST => '/v1/tickets', key => $W, body => { title => 'private' });
is($r->{status}, 201, 'an event');

for my $kind (sort keys %hooks) {
	my $d;
	$s->_poll("the $kind attempt recorded", sub { $d = deliveries($s, $hooks{$kind}{id})->{$seq} });
	like($d->{last_error}, qr/private address/, "$kind: refused at connect, last_error says so");
	is($d->{last_status}, 0, "$kind: no HTTP status");
	ok(!$d->{delivered} && $d->{next_attempt_at} > 0, "$kind: not delivered, retried later");
}
is(scalar @{ $rx->requests }, 0, 'the receiver got nothing');
unlike($s->log, qr/by-name|by-literal|whsec_/, 'neither URL nor secret in the log');

$rx->stop;
$s->finish;
done_testing;
