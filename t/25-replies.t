#!/usr/bin/perl
# Replies: create, validate, list, visibility across organisations, deletion
# with the incident, and their events.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use Time::Local qw(timegm);
use JSON::PP ();
use IncidentdTest;
use OpenAPICheck;

my $s = IncidentdTest->new;
my $W = $s->key('write');
my $T0 = timegm(0, 0, 7, 15, 2, 2026);

sub call {
  my ($method, $path, $body, %o) = @_;
  my $r = $s->req($method, $path, key => $o{key} // $W, defined $body ? (body => $body) : (),
                  defined $o{now} ? (headers => { 'X-Test-Now' => $o{now} }) : ());
  response_ok($r, $method, $path, "$method $path -> $r->{status} per openapi.json");
  return $r;
}
sub errors_of { [map { ($_->{code} // '') . '@' . ($_->{source}{field} // '') } @{ ($_[0]{json} || {})->{errors} || [] }] }
sub sql_json {
  my ($sql) = @_;
  my $out = $s->psql("SELECT coalesce(json_agg(q), '[]'::json) FROM ($sql) q");
  $out =~ s/^\s+|\s+$//g;
  return eval { JSON::PP->new->utf8->decode($out) } || do { diag("psql: $out"); [] };
}
my (undef, $keys) = $s->incidentctl('key', 'list', '--org', $s->org_name);
my ($author) = map { (split /\t/)[2] } grep { ((split /\t/)[1] // '') eq 'write' } split /\n/, $keys;

my $inc = call(POST => '/v1/tickets', { title => 'Replies' }, now => $T0)->{json};
my $id = $inc->{id};

# --- create ------------------------------------------------------------------------------------
my $r = call(POST => "/v1/incidents/$id/replies", { body => 'First.' }, now => $T0 + 60);
is($r->{status}, 201, 'reply 201') or diag($r->{content});
my $first = $r->{json} || {};
is_deeply([sort keys %$first], [sort qw(id incident_id body internal status author created_at)], 'reply has exactly its fields');
like($first->{id} // '', qr/^[1-9]\d*$/, 'reply id');
is_deeply([@$first{qw(incident_id body status author created_at)}], [$id, 'First.', undef, $author, '2026-03-15T07:01:00Z'],
          'incident_id, body, status null, author = key name, created_at');
ok(JSON::PP::is_bool($first->{internal}) && !$first->{internal}, 'internal false by default');
is(call(GET => "/v1/tickets/$id", undef, now => $T0 + 120)->{json}{updated_at}, '2026-03-15T07:01:00Z', 'a reply bumps updated_at');

my $int = call(POST => "/v1/tickets/$id/replies", { body => 'Internal note.', internal => JSON::PP::true }, now => $T0 + 120);
is($int->{status}, 201, 'internal reply 201');
ok(JSON::PP::is_bool($int->{json}{internal}) && $int->{json}{internal}, 'internal true kept');
my $pub = call(POST => "/v1/tickets/$id/replies", { body => "  Ünïcödé 😀\nsecond line  ", internal => JSON::PP::false }, now => $T0 + 180);
is($pub->{status}, 201, 'explicit internal false');
is($pub->{json}{body}, "  Ünïcödé 😀\nsecond line  ", 'body kept verbatim (Unicode, newlines, spaces)');
is(call(POST => "/v1/tickets/$id/replies", { body => 'é' x 10000 }, now => $T0 + 240)->{status}, 201, 'body of 10,000 characters (20,000 bytes)');

# --- validation --------------------------------------------------------------------------------
for my $c ([{}, [qr/^is_required\@body$/], 'body missing'],
           [{ body => '' }, [qr/^(is_required|too_short|invalid_value)\@body$/], 'body empty'],
           [{ body => undef }, [qr/^(is_required|invalid_value)\@body$/], 'body null'],
           [{ body => 'x' x 10001 }, ['too_long@body'], 'body 10,001 characters'],
           [{ body => 5 }, ['invalid_value@body'], 'body a number'],
           [{ body => ['x'] }, ['invalid_value@body'], 'body an array'],
           [{ body => "a\x{0}b" }, ['invalid_value@body'], 'body with \\u0000'],
           [{ body => 'x', internal => 'yes' }, ['invalid_value@internal'], 'internal a string'],
           [{ body => 'x', internal => 1 }, ['invalid_value@internal'], 'internal a number'],
           [{ body => 'x', bogus => 1 }, ['unknown_field@bogus'], 'unknown field'],
           [{ body => 'x', author => 'me' }, [qr/^(unknown_field|invalid_value)\@author$/], 'author is not writable'],
           [{ body => 'x', incident_id => 1 }, [qr/^(unknown_field|invalid_value)\@incident_id$/], 'incident_id is not writable'],
           [{ internal => 'no', extra => 1 }, [qr/^is_required\@body$/, 'invalid_value@internal', 'unknown_field@extra'], 'several errors together']) {
  my ($body, $want, $name) = @$c;
  my $x = call(POST => "/v1/tickets/$id/replies", $body);
  my @got = @{ errors_of($x) };
  my @left = @$want;
  for my $g (@got) { my ($i) = grep { ref $left[$_] ? $g =~ $left[$_] : $g eq $left[$_] } 0 .. $#left; splice @left, $i, 1 if defined $i }
  ok($x->{status} == 422 && !@left && @got == @$want, "$name: 422") or diag("$x->{status} @got");
}
# internal: null is either refused or taken as the default (false); on a scratch incident.
my $scratch = call(POST => '/v1/tickets', { title => 'scratch' })->{json}{id};
my $in = call(POST => "/v1/tickets/$scratch/replies", { body => 'x', internal => undef });
ok(($in->{status} == 422 && errors_of($in)->[0] eq 'invalid_value@internal')
   || ($in->{status} == 201 && JSON::PP::is_bool($in->{json}{internal}) && !$in->{json}{internal}),
   'internal null: 422 invalid_value or the default false') or diag("$in->{status} $in->{content}");
is(call(POST => "/v1/tickets/$id/replies", '[1]')->{status}, 400, 'non-object body: 400');
is(call(POST => "/v1/tickets/$id/replies", '{"body":')->{status}, 400, 'broken JSON: 400');

# --- list ----------------------------------------------------------------------------------------
my $l = call(GET => "/v1/tickets/$id/replies");
is($l->{status}, 200, 'list 200');
is($l->{json}{total}, 4, 'total 4 (internal replies included for API keys)');
is_deeply([map { $_->{id} } @{ $l->{json}{replies} || [] }], [sort { $a <=> $b } map { $_->{id} } @{ $l->{json}{replies} || [] }],
          'oldest first');
is_deeply($l->{json}{replies}[0], $first, 'list entries equal the created replies');
is_deeply([map { !!$_->{internal} } @{ $l->{json}{replies} }], ['', 1, '', ''], 'internal flags listed');
is_deeply([@{ $l->{json} }{qw(limit offset)}, !!$l->{json}{has_more}], [100, 0, ''], 'default limit 100, offset 0, no more');
my $p = call(GET => "/v1/incidents/$id/replies?limit=2&offset=1");
is_deeply([map { $_->{id} } @{ $p->{json}{replies} || [] }], [map { $_->{id} } @{ $l->{json}{replies} }[1, 2]], 'limit 2 offset 1');
is_deeply([$p->{json}{total}, !!$p->{json}{has_more}], [4, 1], 'paged: total 4, has_more');
for my $q (qw(limit=0 limit=1001 offset=-1 limit=x bogus=1)) {
  my $e = call(GET => "/v1/tickets/$id/replies?$q");
  is($e->{status}, 422, "replies ?$q: 422");
  (my $param = $q) =~ s/=.*//;
  is($e->{json}{errors}[0]{source}{parameter}, $param, "... source.parameter $param");
}
is(call(GET => "/v1/tickets/$id/replies?limit=1000")->{status}, 200, 'limit 1000 accepted');

# --- missing and foreign incidents ------------------------------------------------------------------
is(call(POST => '/v1/tickets/999999999/replies', { body => 'x' })->{status}, 404, 'reply to a missing incident: 404');
is(call(GET => '/v1/incidents/999999999/replies')->{status}, 404, 'replies of a missing incident: 404');
my $b = $s->new_org('replies-b-' . $$);
my $fb = call(POST => "/v1/tickets/$id/replies", { body => 'from B' }, key => $b->{keys}{write});
is($fb->{status}, 404, "reply to another org's incident: 404");
is(call(GET => "/v1/tickets/$id/replies", undef, key => $b->{keys}{read})->{status}, 404, "replies of another org's incident: 404");
is(call(GET => "/v1/tickets/$id/replies")->{json}{total}, 4, 'nothing added by org B');

# --- events ----------------------------------------------------------------------------------------
my $ev = sql_json("SELECT seq, type, incident_id, payload FROM events WHERE org_id = " . $s->org_id . " AND type = 'incident.reply' AND incident_id = $id ORDER BY seq");
is(scalar @$ev, 4, 'one incident.reply event per reply');
is_deeply($ev->[0]{payload}, { incident_id => $id, reply => $first }, 'incident.reply payload: {incident_id, reply}');
is($ev->[0]{incident_id}, $id, 'event row incident_id');
ok($ev->[1]{payload}{reply}{internal}, 'the internal reply has its event too (streams are for keys)');

# --- deleted with the incident -------------------------------------------------------------------
my $n = sql_json("SELECT count(*) AS n FROM replies WHERE incident_id = $id");
is($n->[0]{n}, 4, 'four replies stored');
is(call(DELETE => "/v1/incidents/$id")->{status}, 204, 'delete the incident');
$n = sql_json("SELECT count(*) AS n FROM replies WHERE incident_id = $id");
is($n->[0]{n}, 0, 'its replies are deleted');
is(call(GET => "/v1/tickets/$id/replies")->{status}, 404, 'replies of a deleted incident: 404');
is(call(POST => "/v1/tickets/$id/replies", { body => 'late' })->{status}, 404, 'reply to a deleted incident: 404');

$s->finish;
done_testing;
