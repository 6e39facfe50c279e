#!/usr/bin/env perl
# Many streams at once (DESIGN §1: one incidentd-sse holds thousands): 1,200
# streams through the dev nginx (nginx/dev.conf.in sizes its connections and
# descriptors for this) all open, and one write reaches every one of them
# promptly.
use strict;
use warnings;
use Test::More;
use IO::Select;
use Time::HiRes qw(time);

use lib 't/lib';
use IncidentdTest;
use StreamCheck;

# One key holds them all here; a real deployment caps a key at 100.
my $s = IncidentdTest->new(config => { max_streams_per_key => 2000 });
my $N = 1200;
my $R = $s->key('read');
# Under valgrind every stream still opens (memcheck sees the many-streams
# paths), but its time bounds grow with memcheck's slowdown.
my $SLOW = IncidentdTest::slowdown();

my $seq = current_seq($s);
my (@open, %refused);
for (1 .. $N) {
	my $c = $s->stream('/v1/incidents/stream', key => $R);
	if ($c->{status} == 200) { push @open, $c } else { $refused{ $c->{status} }++ }
}
is(scalar @open, $N, "$N streams open at once")
    or diag(join ', ', map { "$refused{$_} x $_" } sort keys %refused);

# Reads all streams at once, noting when each one's event arrived.
my $t0 = time;
is($s->req(POST => '/v1/tickets', key => $s->key('write'), body => { title => 'to everyone' })->{status},
	201, 'one write');
my %waiting = map { fileno($_->socket) => $_ } @open;
my (%arrived, @wrong);
my $deadline = time + 20 * $SLOW;
while (%waiting && time < $deadline) {
	my @ready = IO::Select->new(map { $_->socket } values %waiting)->can_read(1);
	for my $sock (@ready) {
		my $c = $waiting{ fileno $sock };
		my $e = $c->next_event(0) or next;
		delete $waiting{ fileno $sock };
		$arrived{ fileno $sock } = time - $t0;
		push @wrong, $e unless $e->{id} == $seq + 1 && $e->{data}{incident}{title} eq 'to everyone';
	}
}
my @t = sort { $a <=> $b } values %arrived;
is(scalar @t, scalar @open, 'the event reached every stream')
    or diag(scalar(keys %waiting) . ' still waiting');
is(scalar @wrong, 0, 'as the next event, with its data') or diag($wrong[0]{raw});
cmp_ok($t[-1] // 999, '<', 5 * $SLOW, sprintf('the last one within %d s of the write (first %.3f s, median %.3f s, last %.3f s)',
	5 * $SLOW, $t[0] // -1, $t[ $#t / 2 ] // -1, $t[-1] // -1));
$_->close for @open;

$s->finish;
done_testing;
