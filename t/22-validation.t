#!/usr/bin/perl
# Input validation: every field rule of DESIGN §4 and DECISIONS, bodies that are
# not JSON or not objects, hostile strings. Never a 5xx.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use JSON::PP ();
use IncidentdTest;
use OpenAPICheck;

my $s = IncidentdTest->new;
my $W = $s->key('write');
my $http = HTTP::Tiny->new(timeout => 30);
my $enc = JSON::PP->new->utf8->canonical;
my @seen;    # "status METHOD path" of every response, for the no-5xx check

# Sends $body (a Perl structure, encoded as UTF-8 JSON; or a byte string sent as is).
sub send_body {
  my ($method, $path, $body, %h) = @_;
  my $bytes = ref $body ? $enc->encode($body) : $body;
  my $r = $http->request($method, $s->url . $path,
    { headers => { 'x-api-key' => $W, 'Content-Type' => 'application/json', %h },
      defined $bytes ? (content => $bytes) : () });
  $r->{json} = eval { JSON::PP->new->utf8->decode($r->{content}) };
  push @seen, "$r->{status} $method $path";
  response_ok($r, $method, $path, "$method $path -> $r->{status} per openapi.json");
  return $r;
}
sub create { send_body(POST => '/v1/tickets', @_) }
sub get_incident { send_body(GET => "/v1/tickets/$_[0]", undef)->{json} }

sub error_list {
  my ($r) = @_;
  return [sort map { ($_->{code} // '?') . '@' . ($_->{source}{field} // $_->{source}{parameter} // '-') }
              @{ ($r->{json} || {})->{errors} || [] }];
}
# 422 with exactly the expected errors ("code@field" strings, or qr// for a choice).
sub rejected {
  my ($r, $want, $name) = @_;
  my @got = @{ error_list($r) };
  my @left = @$want;
  my @unmatched;
  for my $g (@got) {
    my ($i) = grep { ref $left[$_] ? $g =~ $left[$_] : $g eq $left[$_] } 0 .. $#left;
    if (defined $i) { splice @left, $i, 1 } else { push @unmatched, $g }
  }
  ok($r->{status} == 422 && !@left && !@unmatched, "$name: 422 " . join(' ', map { "$_" } @$want))
    or diag("got $r->{status}: @got; missing: @left; unexpected: @unmatched");
}
sub accepted {
  my ($r, $name) = @_;
  ok($r->{status} == 201 || $r->{status} == 200, "$name: accepted") or diag("got $r->{status}: $r->{content}");
  return $r->{json} || {};
}
sub bad_request {
  my ($r, $code, $name) = @_;
  is_deeply([$r->{status}, error_list($r)], [400, ["$code\@-"]], "$name: 400 $code") or diag($r->{content});
}

# --- title --------------------------------------------------------------------------------
rejected(create({ description => 'no title' }), ['is_required@title'], 'title missing');
rejected(create({ title => '' }), ['is_required@title'], 'title empty');
rejected(create({ title => " \t\n " }), ['is_required@title'], 'title blank');
rejected(create({ title => undef }), [qr/^(is_required|invalid_value)\@title$/], 'title null');
rejected(create({ title => 42 }), ['invalid_value@title'], 'title a number');
rejected(create({ title => ['x'] }), ['invalid_value@title'], 'title an array');
rejected(create({ title => JSON::PP::true }), ['invalid_value@title'], 'title a boolean');
is(accepted(create({ title => "  \t padded title \n " }), 'padded title')->{title}, 'padded title', 'title trimmed');
is(length(accepted(create({ title => 'a' x 200 }), '200 chars')->{title}), 200, 'title of 200 characters kept');
rejected(create({ title => 'a' x 201 }), ['too_long@title'], 'title 201 chars');
is(accepted(create({ title => ' ' . ('b' x 200) . ' ' }), '200 chars plus spaces')->{title}, 'b' x 200, 'length counted after trimming');
is(accepted(create({ title => 'é' x 200 }), '200 two-byte chars')->{title}, 'é' x 200, 'title of 200 two-byte characters (400 bytes)');
rejected(create({ title => 'é' x 201 }), ['too_long@title'], 'title 201 two-byte chars');
is(accepted(create({ title => '事' x 200 }), '200 three-byte chars')->{title}, '事' x 200, 'title of 200 three-byte characters');
is(accepted(create({ title => '😀' x 200 }), '200 four-byte chars')->{title}, '😀' x 200, 'title of 200 astral characters (800 bytes)');
rejected(create({ title => '😀' x 201 }), ['too_long@title'], 'title 201 astral chars');

# --- text fields and their limits ---------------------------------------------------------
for my $f ([description => 10000], [source_ref => 255], [location_name => 200], [impact_description => 2000], [assigned_to => 200]) {
  my ($field, $max) = @$f;
  is(accepted(create({ title => "max $field", $field => 'ü' x $max }), "$field at $max")->{$field}, 'ü' x $max,
     "$field of $max characters kept");
  rejected(create({ title => "long $field", $field => 'x' x ($max + 1) }), ["too_long\@$field"], "$field over $max");
  is(accepted(create({ title => "null $field", $field => undef }), "$field null")->{$field}, undef, "$field null");
  rejected(create({ title => "num $field", $field => 7 }), ["invalid_value\@$field"], "$field a number");
  my $set = accepted(create({ title => "clear $field", $field => 'v' }), "$field set");
  is(send_body(PATCH => "/v1/tickets/$set->{id}", { $field => undef })->{json}{$field}, undef, "PATCH $field null clears it");
  rejected(create({ title => "nul $field", $field => "a\x{0}b" }), ["invalid_value\@$field"], "$field with \\u0000");
}
rejected(create({ title => "nul\x{0}title" }), ['invalid_value@title'], 'title with \\u0000');
rejected(create('{"title":"escaped \u0000 nul"}'), ['invalid_value@title'], 'title with an escaped \\u0000');

# --- enums -------------------------------------------------------------------------------------
for my $st (qw(new open acknowledged in_progress investigating identified monitoring resolved postmortem closed)) {
  is(accepted(create({ title => "status $st", status => $st }), "status $st")->{status}, $st, "status $st stored");
}
for my $f ([status => 'bogus'], [status => 'Open'], [priority => 'critical'], [priority => ''], [severity => 'sev1'],
           [source => 'phone'], [status => 3], [priority => undef], [severity => undef], [source => ['api']], [status => undef]) {
  rejected(create({ title => 'enum', $f->[0] => $f->[1] }), ["invalid_value\@$f->[0]"],
           "$f->[0] " . (defined $f->[1] ? $enc->allow_nonref->encode($f->[1]) : 'null'));
}
is(accepted(create({ title => 'p', priority => $_ }), "priority $_")->{priority}, $_, "priority $_") for qw(low normal high urgent);
is(accepted(create({ title => 's', source => $_ }), "source $_")->{source}, $_, "source $_") for qw(api email webhook alert);
my $sev = accepted(create({ title => 'sev patch' }), 'severity target');
is(send_body(PATCH => "/v1/tickets/$sev->{id}", { severity => 'minor' })->{json}{severity}, 'low', 'PATCH severity minor stored as low');
is(send_body(PATCH => "/v1/tickets/$sev->{id}", { severity => 'major' })->{json}{severity}, 'high', 'PATCH severity major stored as high');
is(send_body(PATCH => "/v1/tickets/$sev->{id}", { started_at => '2026-01-01T00:00:00+01:00' })->{json}{started_at}, '2025-12-31T23:00:00Z',
   'PATCH started_at, offset converted');
for my $sv ([critical => 'critical'], [high => 'high'], [medium => 'medium'], [low => 'low'], [maintenance => 'maintenance'],
            [major => 'high'], [minor => 'low']) {
  is(accepted(create({ title => 'sev', severity => $sv->[0] }), "severity $sv->[0]")->{severity}, $sv->[1],
     "severity $sv->[0] stored as $sv->[1]");
}

# --- coordinates ------------------------------------------------------------------------------
for my $ok ([90, 180], [-90, -180], [0, 0], [35.4676, -97.5164]) {
  my $j = accepted(create({ title => 'coords', lat => $ok->[0], lng => $ok->[1] }), "lat $ok->[0] lng $ok->[1]");
  ok(defined $j->{lat} && $j->{lat} == $ok->[0] && defined $j->{lng} && $j->{lng} == $ok->[1], "lat/lng $ok->[0],$ok->[1] stored");
}
rejected(create({ title => 'c', lat => 90.0001, lng => 0 }), ['out_of_range@lat'], 'lat above 90');
rejected(create({ title => 'c', lat => -91, lng => 0 }), ['out_of_range@lat'], 'lat below -90');
rejected(create({ title => 'c', lat => 0, lng => 180.5 }), ['out_of_range@lng'], 'lng above 180');
rejected(create({ title => 'c', lat => 0, lng => -181 }), ['out_of_range@lng'], 'lng below -180');
rejected(create({ title => 'c', lat => 10 }), ['invalid_value@lng'], 'lat without lng');
rejected(create({ title => 'c', lng => 10 }), ['invalid_value@lat'], 'lng without lat');
rejected(create({ title => 'c', lat => 10, lng => undef }), ['invalid_value@lng'], 'lat with lng null');
rejected(create({ title => 'c', lat => '35.1', lng => 1 }), ['invalid_value@lat'], 'lat a string');
rejected(create({ title => 'c', lat => 1, lng => JSON::PP::true }), ['invalid_value@lng'], 'lng a boolean');
my $huge = create('{"title":"c","lat":1e400,"lng":0}');
ok(($huge->{status} == 400 && error_list($huge)->[0] eq 'invalid_json@-') || ($huge->{status} == 422 && error_list($huge)->[0] =~ /^(out_of_range|invalid_value)\@lat$/),
   'lat overflowing a double: 400 invalid_json or 422 on lat') or diag("$huge->{status} $huge->{content}");
my $nc = accepted(create({ title => 'no coords', lat => undef, lng => undef }), 'both null');
is_deeply([$nc->{lat}, $nc->{lng}], [undef, undef], 'both null stored as null');
my $wc = accepted(create({ title => 'patch coords', lat => 1, lng => 2 }), 'with coordinates');
my $pc = send_body(PATCH => "/v1/tickets/$wc->{id}", { lat => 3 });
is_deeply([$pc->{status}, $pc->{json}{lat}, $pc->{json}{lng}], [200, 3, 2], 'PATCH lat alone keeps lng');
rejected(send_body(PATCH => "/v1/tickets/$wc->{id}", { lat => undef }), [qr/^invalid_value\@(lat|lng)$/],
         'PATCH clearing lat alone leaves lng without lat');
rejected(send_body(PATCH => "/v1/tickets/$nc->{id}", { lng => 5 }), ['invalid_value@lat'], 'PATCH lng onto an incident without lat');
my $cl = send_body(PATCH => "/v1/tickets/$wc->{id}", { lat => undef, lng => undef });
is_deeply([$cl->{status}, $cl->{json}{lat}, $cl->{json}{lng}], [200, undef, undef], 'PATCH clearing both');

# --- tags and affected_services ------------------------------------------------------------
for my $f (qw(tags affected_services)) {
  is_deeply(accepted(create({ title => $f, $f => ['b', ' a ', 'b', 'a', 'c'] }), "$f dedup")->{$f}, [qw(b a c)],
            "$f trimmed and deduplicated keeping the first occurrence");
  is_deeply(accepted(create({ title => $f, $f => undef }), "$f null")->{$f}, [], "$f null stored as []");
  is_deeply(accepted(create({ title => $f, $f => [map { "t$_" } 1 .. 50] }), "50 $f")->{$f}, [map { "t$_" } 1 .. 50], "50 $f kept in order");
  rejected(create({ title => $f, $f => [map { "t$_" } 1 .. 51] }), [qr/^too_long\@\Q$f\E/], "51 $f");
  is_deeply(accepted(create({ title => $f, $f => ['ß' x 64] }), "$f item of 64 chars")->{$f}, ['ß' x 64], "$f item of 64 two-byte chars");
  rejected(create({ title => $f, $f => ['x' x 65] }), [qr/^too_long\@\Q$f\E/], "$f item of 65 chars");
  rejected(create({ title => $f, $f => [''] }), [qr/^(is_required|invalid_value|too_short)\@\Q$f\E/], "$f empty item");
  rejected(create({ title => $f, $f => ['  '] }), [qr/^(is_required|invalid_value|too_short)\@\Q$f\E/], "$f blank item");
  rejected(create({ title => $f, $f => 'db' }), ["invalid_value\@$f"], "$f a string");
  rejected(create({ title => $f, $f => [1] }), [qr/^invalid_value\@\Q$f\E/], "$f with a number item");
  rejected(create({ title => $f, $f => [undef] }), [qr/^invalid_value\@\Q$f\E/], "$f with a null item");
  rejected(create({ title => $f, $f => { a => 1 } }), ["invalid_value\@$f"], "$f an object");
  rejected(create({ title => $f, $f => ["a\x{0}"] }), [qr/^invalid_value\@\Q$f\E/], "$f item with \\u0000");
  my $t = accepted(create({ title => "$f clear", $f => ['x'] }), "$f to clear");
  is_deeply(send_body(PATCH => "/v1/tickets/$t->{id}", { $f => [' y', 'x', 'y '] })->{json}{$f}, [qw(y x)], "PATCH $f trims and deduplicates too");
  is_deeply(send_body(PATCH => "/v1/tickets/$t->{id}", { $f => undef })->{json}{$f}, [], "PATCH $f null clears to []");
}

# --- timestamps ---------------------------------------------------------------------------------
for my $ts (['2026-03-15T07:00:00Z', '2026-03-15T07:00:00Z'], ['2026-03-15T07:00:00.987Z', '2026-03-15T07:00:00Z'],
            ['2026-03-15T09:30:00+02:30', '2026-03-15T07:00:00Z'], ['2026-03-14T23:00:00-08:00', '2026-03-15T07:00:00Z']) {
  is(accepted(create({ title => 'ts', started_at => $ts->[0] }), "started_at $ts->[0]")->{started_at}, $ts->[1],
     "started_at $ts->[0] -> $ts->[1]");
}
for my $bad ('2026-03-15', 'yesterday', '2026-02-30T00:00:00Z', '2026-03-15T25:00:00Z', '2026-03-15 07:00:00', '', 1773558000) {
  rejected(create({ title => 'ts', started_at => $bad }), ['invalid_value@started_at'], "started_at '$bad'");
}
rejected(create({ title => 'ts', started_at => undef }), ['invalid_value@started_at'], 'started_at null');
is(accepted(create({ title => 'ack', status => 'investigating', acknowledged_at => '2026-03-15T07:05:00Z' }), 'acknowledged_at')
   ->{acknowledged_at}, '2026-03-15T07:05:00Z', 'acknowledged_at as given');
rejected(create({ title => 'ack', acknowledged_at => 'soon' }), ['invalid_value@acknowledged_at'], 'acknowledged_at not a time');
is(accepted(create({ title => 'res', status => 'resolved', resolved_at => '2026-03-15T08:00:00Z' }), 'resolved_at')
   ->{resolved_at}, '2026-03-15T08:00:00Z', 'resolved_at as given in the resolved phase');
rejected(create({ title => 'res', status => 'open', resolved_at => '2026-03-15T08:00:00Z' }), ['invalid_value@resolved_at'],
         'resolved_at for an active incident');
rejected(create({ title => 'res', resolved_at => '2026-03-15T08:00:00Z' }), ['invalid_value@resolved_at'],
         'resolved_at with the default (active) status');

# --- unknown and read-only fields --------------------------------------------------------------
rejected(create({ title => 'typo', titel => 'x' }), ['unknown_field@titel'], 'unknown field');
rejected(create({ title => 'typo', Title => 'x' }), ['unknown_field@Title'], 'field names are case-sensitive');
rejected(create({ title => 'typo', message => 'x', org_id => 1 }), [qr/^(unknown_field|invalid_value)\@message$/, 'unknown_field@org_id'],
         'unknown fields on create');
my $target = accepted(create({ title => 'read-only target' }), 'target');
for my $ro (qw(id Id sla_due_at sla_breached sla_status customer_token customer_status_url created_by created_at updated_at)) {
  my $v = $ro =~ /_at$/ ? '2026-03-15T07:00:00Z' : $ro =~ /^(id|Id)$/ ? 99 : $ro eq 'sla_breached' ? JSON::PP::true : 'x';
  rejected(create({ title => 'ro', $ro => $v }), ["invalid_value\@$ro"], "read-only $ro on create");
  rejected(send_body(PATCH => "/v1/tickets/$target->{id}", { $ro => $v }), ["invalid_value\@$ro"], "read-only $ro on PATCH");
}
is_deeply(get_incident($target->{id}), $target, 'refused PATCHes changed nothing');

# --- several errors at once -------------------------------------------------------------------
rejected(create({ title => '', priority => 'bogus', lat => 100, lng => 0, bogus_field => 1, tags => 'x', description => 'd' x 10001 }),
         [qw(is_required@title invalid_value@priority out_of_range@lat unknown_field@bogus_field invalid_value@tags too_long@description)],
         'all errors of one request reported together');
rejected(send_body(PATCH => "/v1/tickets/$target->{id}", { title => ' ', status => 'nope', message => 'm' x 10001 }),
         [qw(is_required@title invalid_value@status too_long@message)], 'PATCH reports all errors together');
rejected(send_body(PATCH => "/v1/tickets/$target->{id}", { title => undef }), [qr/^(is_required|invalid_value)\@title$/], 'PATCH title null');
rejected(send_body(PATCH => "/v1/tickets/$target->{id}", { message => 5 }), ['invalid_value@message'], 'PATCH message a number');
rejected(send_body(PATCH => "/v1/tickets/$target->{id}", { started_at => undef }), ['invalid_value@started_at'], 'PATCH started_at null');
is(send_body(PATCH => '/v1/tickets/999999999', { status => 'bogus' })->{status}, 422, 'validation before lookup (422 on a missing id)');

# --- bodies that are not a JSON object ---------------------------------------------------------
bad_request(create(''), 'invalid_json', 'empty body');
bad_request(create('{"title":'), 'invalid_json', 'truncated JSON');
bad_request(create("{'title':'x'}"), 'invalid_json', 'single quotes');
bad_request(create('{"title":"x",}'), 'invalid_json', 'trailing comma');
bad_request(create('{"title":"x"} {"title":"y"}'), 'invalid_json', 'two documents');
bad_request(create('{"title":"x"} garbage'), 'invalid_json', 'trailing garbage');
bad_request(create('{"title":"x\\q"}'), 'invalid_json', 'bad escape');
bad_request(create("{\"title\":\"line\nbreak\"}"), 'invalid_json', 'raw control character in a string');
bad_request(create($_), 'invalid_body', "JSON $_ is not an object") for ('[]', '[{"title":"x"}]', '"title"', '42', 'true', 'null');
bad_request(send_body(PATCH => "/v1/tickets/$target->{id}", '[1]'), 'invalid_body', 'PATCH with an array');
bad_request(send_body(PATCH => "/v1/tickets/$target->{id}", '{'), 'invalid_json', 'PATCH with broken JSON');
bad_request(send_body(POST => "/v1/tickets/$target->{id}/replies", 'x'), 'invalid_json', 'reply with broken JSON');
bad_request(create('[' x 10000), 'invalid_json', '10,000 nested arrays');
bad_request(create('{"title":"deep","tags":' . ('[' x 200) . (']' x 200) . '}'), 'invalid_json', '200 levels inside a field');
bad_request(create(('{"a":' x 5000) . '1' . ('}' x 5000)), 'invalid_json', '5,000 nested objects');
rejected(create('{"title":"shallow","tags":[[["x"]]]}'), [qr/^invalid_value\@tags/], 'shallow nesting is a validation error, not 400');

# Invalid UTF-8 is refused as unparsable JSON or as an invalid value, never stored.
for my $bytes (["\xff\xfe", 'bytes ff fe'], ["\xc3\x28", 'bad continuation'], ["\xc0\xaf", 'overlong /'],
               ["\xed\xa0\x80", 'UTF-8 encoded surrogate'], ["\xf4\x90\x80\x80", 'above U+10FFFF'], ["abc\xe2\x82", 'truncated sequence']) {
  my $r = create(qq({"title":"$bytes->[0]"}));
  ok(($r->{status} == 400 && error_list($r)->[0] eq 'invalid_json@-') || ($r->{status} == 422 && error_list($r)->[0] eq 'invalid_value@title'),
     "invalid UTF-8 ($bytes->[1]): 400 invalid_json or 422 invalid_value") or diag("$r->{status} $r->{content}");
}
my $lone = create('{"title":"lone \ud800 surrogate"}');
ok($lone->{status} == 400 || $lone->{status} == 422, 'a lone surrogate escape is refused') or diag("$lone->{status} $lone->{content}");
is(accepted(create('{"title":"pair \ud83d\ude00 ok"}'), 'surrogate pair')->{title}, "pair \x{1F600} ok", 'a surrogate pair escape decodes');
my $plain = send_body(POST => '/v1/tickets', { title => 'text/plain body' }, 'Content-Type' => 'text/plain');
is($plain->{status}, 201, 'the body is JSON whatever the Content-Type');

# --- hostile strings are data ---------------------------------------------------------------------
my %sql = (title => q{'); DROP TABLE incidents; --}, description => q{Robert'); DELETE FROM events WHERE ('1'='1},
           assigned_to => q{" OR ""="}, source_ref => q{1; SELECT pg_sleep(10)}, tags => [q{' OR 1=1 --}, q{%_\\}],
           location_name => q{$1 $$ \x00 %s %n});
my $sq = accepted(create(\%sql), 'SQL-looking strings');
is_deeply({ map { $_ => $sq->{$_} } keys %sql }, \%sql, 'SQL-looking strings stored verbatim');
is_deeply({ map { $_ => get_incident($sq->{id})->{$_} } keys %sql }, \%sql, 'and read back verbatim');
my $tl = send_body(GET => '/v1/tickets?tag=%25_%5C', undef);
is_deeply([map { $_->{id} } @{ $tl->{json}{tickets} || [] }], [$sq->{id}], 'a tag with LIKE wildcards matches only itself');
my $uni = "RTL \x{202E} zero-width \x{200B} combining e\x{301} emoji \x{1F525}";
is(accepted(create({ title => $uni }), 'unusual Unicode')->{title}, $uni, 'unusual Unicode stored verbatim');

ok(!grep({ /^5/ } @seen), 'no 5xx in ' . scalar(@seen) . ' responses') or diag(join "\n", grep { /^5/ } @seen);
$s->finish;
done_testing;
