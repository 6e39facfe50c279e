#!/usr/bin/perl
# Dedup by source_ref (DESIGN §4): a create whose source_ref equals that of an
# active incident of the same org and source answers that incident with 200
# (no row, no event), Location pointing at it; once it is resolved the next
# create opens a new one. Concurrent creates: one insert, every other answer
# that same incident (the partial unique index decides, not a read first).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use IncidentdTest;
use OpenAPICheck;
use StreamCheck;
use ApiCall qw(error_is finish_bg req_bg);

my $BASE = 'https://status.example.test';
my $s = IncidentdTest->new(workers => 3, config => { public_base_url => $BASE });
my $W = $s->key('write');
my $api = ApiCall->new($s, $W);

sub create { $api->call(POST => '/v1/tickets', body => $_[0], %{ $_[1] || {} }) }
sub total { ($api->call(GET => '/v1/tickets?limit=1')->{json} || {})->{total} }
sub alert { my ($ref, %more) = @_; { title => "Alert $ref", source => 'alert', source_ref => $ref, %more } }

my $first = create(alert('cpu-db1', priority => 'urgent'));
is($first->{status}, 201, 'first alert: 201') or diag($first->{content});
my $id = ($first->{json} || {})->{id};
my ($seq, $total) = (current_seq($s), total());

my $dup = create(alert('cpu-db1', title => 'CPU still high on db1', priority => 'low'));
is($dup->{status}, 200, 'the same source_ref while active: 200');
is(($dup->{json} || {})->{id}, $id, '... the existing incident');
is_deeply([@{ $dup->{json} || {} }{qw(title priority)}], ['Alert cpu-db1', 'urgent'],
	'... unchanged: the duplicate\'s fields are not applied');
is($dup->{headers}{location}, "$BASE/v1/tickets/$id", '... Location points at it');
is_deeply([current_seq($s), total()], [$seq, $total], '... no new row, no event');
is($dup->{headers}{etag}, $first->{headers}{etag}, '... its current ETag');

is(create(alert('cpu-db1', source => 'webhook'))->{status}, 201, 'the same source_ref from another source: new');
is(create({ title => 'no ref', source => 'alert' })->{status}, 201, 'without source_ref: new');
is(create({ title => 'no ref', source => 'alert' })->{status}, 201, 'without source_ref again: new again');
my $org2 = $s->new_org('dedup-other');
is(create(alert('cpu-db1'), { key => $org2->{keys}{write} })->{status}, 201, 'another org: new');

# --- resolved frees the source_ref ------------------------------------------------------
is($api->call(PATCH => "/v1/tickets/$id", body => { status => 'resolved' })->{status}, 200, 'resolve it');
my $next = create(alert('cpu-db1'));
is($next->{status}, 201, 'after it is resolved the next alert opens a new incident');
my $id2 = ($next->{json} || {})->{id};
isnt($id2, $id, '... with its own id');
is((create(alert('cpu-db1'))->{json} || {})->{id}, $id2, 'and the one after that dedups onto the new one');
error_is($api->call(PATCH => "/v1/tickets/$id", body => { status => 'open' }), 409, 'conflict_error',
	'source_ref_in_use', 'reopening the old one while the new one is active: 409');
is(($api->call(GET => "/v1/tickets/$id")->{json} || {})->{status}, 'resolved', '... it stays resolved');
my $other = create(alert('disk-db1'));
error_is($api->call(PATCH => '/v1/tickets/' . ($other->{json} || {})->{id}, body => { source_ref => 'cpu-db1' }),
	409, 'conflict_error', 'source_ref_in_use', 'moving an active incident onto a held source_ref: 409');
is($api->call(PATCH => "/v1/tickets/$id2", body => { status => 'closed' })->{status}, 200, 'close the new one');
is($api->call(PATCH => "/v1/tickets/$id", body => { status => 'open' })->{status}, 200,
	'then the old one reopens');

for my $round (1 .. 5) {
	my $before = total();
	my @bg = map { req_bg($s, POST => '/v1/tickets', key => $W, body => alert("storm-$round", title => "storm $round/$_")) } 1 .. 6;
	my @r = map { finish_bg($_) } @bg;
	my %by_status;
	$by_status{ $_->{status} }++ for @r;
	my %ids = map { (($_->{json} || {})->{id} // 'none') => 1 } @r;
	is_deeply([$by_status{201}, $by_status{200}, scalar keys %ids, total() - $before], [1, 5, 1, 1],
		"round $round: six concurrent creates, one 201, five 200, one incident")
		or diag(join ' ', map { "$_->{status} $_->{content}" } @r);
}

$s->finish;
done_testing;
