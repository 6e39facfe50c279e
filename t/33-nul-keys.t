#!/usr/bin/env perl
# A JSON key is compared with its full length: "body\u0000x" is not "body"
# but an unknown field (422 unknown_field), in a reply body and an incident
# body alike.
use strict;
use warnings;
use utf8;
use Test::More;

use lib 't/lib';
use IncidentdTest;
use OpenAPICheck;
binmode(Test::More->builder->$_, ":utf8") for qw(output failure_output todo_output);

my $s = IncidentdTest->new(workers => 1);
my $W = $s->key('write');
my $REPLACEMENT = "\x{FFFD}";    # how the key's NUL is shown back

sub call {
	my ($method, $path, $raw) = @_;
	my $r = $s->req($method, $path, key => $W, body => $raw);
	response_ok($r, $method, $path, "$method $path -> $r->{status} per openapi.json");
	return $r;
}

sub codes {
	my ($r) = @_;
	return [ sort map { "$_->{code}\@" . ($_->{source}{field} // '') } @{ ($r->{json} || {})->{errors} || [] } ];
}

my $id = call(POST => '/v1/tickets', '{"title":"NUL keys"}')->{json}{id};
ok $id, 'an incident to reply to';

my $r = call(POST => "/v1/incidents/$id/replies", '{"body\u0000x":"hello"}');
is $r->{status}, 422, 'reply: "body\u0000x" is not body';
is_deeply codes($r), [ 'is_required@body', "unknown_field\@body${REPLACEMENT}x" ],
    'reply: body is missing and "body\u0000x" is unknown';

$r = call(POST => "/v1/incidents/$id/replies", '{"body":"hi","internal\u0000":true}');
is $r->{status}, 422, 'reply: "internal\u0000" is not internal';
is_deeply codes($r), [ "unknown_field\@internal$REPLACEMENT" ], 'reply: one unknown field';

$r = call(POST => '/v1/tickets', '{"title\u0000x":"T"}');
is $r->{status}, 422, 'create: "title\u0000x" is not title';
is_deeply codes($r), [ 'is_required@title', "unknown_field\@title${REPLACEMENT}x" ],
    'create: title is missing and "title\u0000x" is unknown';

$r = call(PATCH => "/v1/tickets/$id", '{"status\u0000":"closed"}');
is $r->{status}, 422, 'update: "status\u0000" is not status';
is_deeply codes($r), [ "unknown_field\@status$REPLACEMENT" ], 'update: one unknown field';

$r = call(PATCH => "/v1/tickets/$id", '{"message\u0000":"x"}');
is $r->{status}, 422, 'update: "message\u0000" is not message';

$r = call(PATCH => "/v1/tickets/$id", '{"id\u0000":5}');
is_deeply codes($r), [ "unknown_field\@id$REPLACEMENT" ],
    'update: "id\u0000" is unknown, not the read-only id';

my $replies = $s->req(GET => "/v1/incidents/$id/replies", key => $W)->{json};
is $replies->{total}, 0, 'no reply was stored';
is $s->req(GET => "/v1/tickets/$id", key => $W)->{json}{status}, 'open', 'the incident is unchanged';

$s->finish;
done_testing;
