#!/usr/bin/env perl
# Lists at their edges: a page past the end still reports the true total.
use strict;
use warnings;
use Test::More;

use lib 't/lib';
use IncidentdTest;
use OpenAPICheck;

my $s = IncidentdTest->new(workers => 1);
my $W = $s->key('write');

sub call {
	my ($method, $path, $body) = @_;
	my $r = $s->req($method, $path, key => $W, defined $body ? (body => $body) : ());
	response_ok($r, $method, $path, "$method $path -> $r->{status} per openapi.json");
	return $r;
}

my $id = call(POST => '/v1/tickets', { title => 'Timeline' })->{json}{id};
call(POST => "/v1/incidents/$id/replies", { body => "reply $_" }) for 1 .. 3;

for my $c (['?limit=2', 2, 1], ['?limit=2&offset=2', 1, 0], ['?limit=2&offset=3', 0, 0],
           ['?limit=2&page=5', 0, 0], ['?offset=1000', 0, 0]) {
	my ($query, $rows, $more) = @$c;
	my $r = call(GET => "/v1/incidents/$id/replies$query");
	is $r->{status}, 200, "replies $query: 200";
	is scalar @{ $r->{json}{replies} }, $rows, "replies $query: $rows rows";
	is $r->{json}{total}, 3, "replies $query: total is 3";
	is !!$r->{json}{has_more}, !!$more, "replies $query: has_more " . ($more ? 'true' : 'false');
}

my $empty = call(POST => '/v1/tickets', { title => 'No replies' })->{json}{id};
my $r = call(GET => "/v1/incidents/$empty/replies?offset=5");
is $r->{json}{total}, 0, 'an incident without replies: total 0 past the end too';

$r = call(GET => '/v1/tickets?limit=1&offset=50');
is $r->{json}{total}, 2, 'incidents past the end: total is the true count';

# A row that cannot be decoded fails the whole list with a 500 envelope and a
# log line naming the request, never a short page. jsonb allows a tags value
# that is not an array; incidentd never writes one.
{
	my $bad = call(POST => '/v1/tickets', { title => 'Corrupted', tags => ['a'] })->{json}{id};
	call(POST => '/v1/tickets', { title => 'Fine after' });
	$s->psql(qq{UPDATE incidents SET tags = '{"not":"a list"}' WHERE id = $bad});
	my $r = call(GET => '/v1/tickets');
	is $r->{status}, 500, 'a list with an unreadable row: 500';
	is $r->{json}{type}, 'internal_error', 'the internal_error envelope';
	is $r->{json}{errors}[0]{code}, 'internal_error', 'code internal_error';
	unlike $r->{content}, qr/not|tags|list/i, 'nothing about the row leaks';
	my $rid = $r->{headers}{'x-request-id'};
	is $r->{json}{request_id}, $rid, 'request_id equals X-Request-Id';
	like $s->log, qr/request_id=\Q$rid\E .*unreadable incident row.* id=$bad\b/,
	    'the log names the request and the row';
	$r = call(GET => '/v1/tickets?limit=1');
	is $r->{status}, 200, 'a page without that row still works';
}

$s->finish;
done_testing;
