#!/usr/bin/perl
# ETag, If-Match, If-None-Match (DESIGN §4): every incident response carries
# a strong ETag that changes with every change (timeline included); a stale
# If-Match on PATCH, PUT, DELETE or a reply is 412 etag_mismatch; a matching
# If-None-Match on GET is 304 without a body. Two PATCHes with the same ETag
# at once: exactly one wins.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use IncidentdTest;
use OpenAPICheck;
use ApiCall qw(error_is finish_bg req_bg);

my $s = IncidentdTest->new(workers => 3);
my $W = $s->key('write');
my $api = ApiCall->new($s, $W);
my $T = 1773932400;    # 2026-03-19T15:00:00Z
my $STRONG = qr/^"[^"]+"\z/;

sub call {
	my ($method, $path, %o) = @_;
	my %h = (%{ $o{headers} || {} }, 'X-Test-Now' => $o{now} // $T);
	return $api->call($method, $path, headers => \%h, map { exists $o{$_} ? ($_ => $o{$_}) : () } qw(body key));
}
sub etag_of { call(GET => $_[0])->{headers}{etag} }

my $c = call(POST => '/v1/tickets', body => { title => 'Checkout slow', priority => 'normal' });
my $id = ($c->{json} || {})->{id};
my $P = "/v1/tickets/$id";
like($c->{headers}{etag} // '', $STRONG, 'create: a strong ETag');
my $g = call(GET => $P);
is($g->{headers}{etag}, $c->{headers}{etag}, 'GET: the same ETag as the create answered');
is(etag_of($P), $g->{headers}{etag}, 'GET again: unchanged');
my $e0 = $g->{headers}{etag};

# --- If-None-Match -----------------------------------------------------------------------
for my $h ([$e0, 'the ETag'], ["W/$e0", 'its weak form'], ['"x", ' . $e0, 'a list holding it'], ['*', '*']) {
	my $r = call(GET => $P, headers => { 'If-None-Match' => $h->[0] });
	is_deeply([$r->{status}, $r->{content} // '', $r->{headers}{etag}], [304, '', $e0],
		"If-None-Match with $h->[1]: 304, no body, the ETag");
}
my $nm = call(GET => $P, headers => { 'If-None-Match' => $e0 });
is($nm->{reason}, 'Not Modified', '304 says Not Modified');
ok(!exists $nm->{headers}{'content-length'}, '304 carries no Content-Length (RFC 9110 §8.6)');
my $head = $s->req(HEAD => $P, key => $W, headers => { 'If-None-Match' => $e0, 'X-Test-Now' => $T });
is($head->{status}, 304, 'HEAD with If-None-Match: 304');
is(call(GET => $P, headers => { 'If-None-Match' => '"other"' })->{status}, 200, 'another ETag: 200');
is(call(GET => $P, headers => { 'If-None-Match' => 'garbage' })->{status}, 200, 'a malformed one: 200');

# --- every change moves it ----------------------------------------------------------------
my $p1 = call(PATCH => $P, body => { severity => 'high' });
my $e1 = $p1->{headers}{etag};
isnt($e1, $e0, 'PATCH: a new ETag in its answer');
is(etag_of($P), $e1, '... and on GET');
is(call(GET => $P, headers => { 'If-None-Match' => $e0 })->{status}, 200, 'the old ETag no longer gives 304');
is(call(PATCH => $P, body => { severity => 'high' })->{headers}{etag}, $e1, 'a no-op PATCH keeps it');
is(call(POST => "$P/replies", body => { body => 'internal note', internal => JSON::PP::true })->{status}, 201,
	'an internal reply');
my $e2 = etag_of($P);
isnt($e2, $e1, 'a timeline-only change moves the ETag too');

# --- If-Match on writes ------------------------------------------------------------------------
error_is(call(PATCH => $P, body => { title => 'stale' }, headers => { 'If-Match' => $e1 }), 412,
	'precondition_failed_error', 'etag_mismatch', 'PATCH with a stale If-Match: 412');
is(call(GET => $P)->{json}{title}, 'Checkout slow', '... nothing written');
my $stale = call(PUT => $P, body => { title => 'stale' }, headers => { 'If-Match' => $e1 });
is($stale->{status}, 412, 'PUT with a stale If-Match: 412');
is($stale->{headers}{etag}, $e2, '... naming the current ETag');
error_is(call(POST => "$P/replies", body => { body => 'late' }, headers => { 'If-Match' => $e1 }), 412,
	'precondition_failed_error', 'etag_mismatch', 'a reply with a stale If-Match: 412');
is(call(PATCH => $P, body => { title => 'weak' }, headers => { 'If-Match' => "W/$e2" })->{status}, 412,
	'If-Match compares strongly: a weak tag never matches');
my $ok = call(PATCH => $P, body => { title => 'Checkout slow (EU)' }, headers => { 'If-Match' => $e2 });
is($ok->{status}, 200, 'PATCH with the current If-Match: 200');
my $e3 = $ok->{headers}{etag};
is(call(POST => "$P/replies", body => { body => 'on it' }, headers => { 'If-Match' => "\"x\", $e3" })->{status},
	201, 'a reply with If-Match listing the current ETag: 201');
is(call(PATCH => $P, body => { priority => 'high' }, headers => { 'If-Match' => '*' })->{status}, 200,
	'If-Match: * on an existing incident: 200');
is(call(DELETE => $P, headers => { 'If-Match' => $e3 })->{status}, 412, 'DELETE with a stale If-Match: 412');
is(call(GET => $P)->{status}, 200, '... not deleted');
is(call(DELETE => $P, headers => { 'If-Match' => etag_of($P) })->{status}, 204,
	'DELETE with the current If-Match: 204');
is(call(PATCH => $P, body => { title => 'gone' }, headers => { 'If-Match' => '*' })->{status}, 404,
	'a missing incident: 404 before any precondition');

# --- the representation decides: dialect and SLA state --------------------------------------
my $i2 = (call(POST => '/v1/tickets', body => { title => 'SLA clock', priority => 'urgent' })->{json} || {})->{id};
my $v1 = etag_of("/v1/tickets/$i2");
my $a24 = etag_of("/compat/alert24/api/v1/incidents/$i2");
my $st = etag_of("/compat/statly/api/v1/incidents/inc_$i2");
is(scalar(keys %{ { map { $_ => 1 } $v1, $a24, $st } }), 3, 'each dialect has its own ETag for one incident');
my $warned = call(GET => "/v1/tickets/$i2", now => $T + 50 * 60);
is($warned->{json}{sla_status}, 'warning', '50 minutes on, the urgent SLA is at warning');
isnt($warned->{headers}{etag}, $v1, '... and /v1\'s ETag moved with it (its body did)');
is(call(GET => "/compat/alert24/api/v1/incidents/$i2", now => $T + 50 * 60)->{headers}{etag}, $a24,
	'Alert24 shows no SLA: its ETag did not move');
is(call(GET => "/compat/alert24/api/v1/incidents/$i2", headers => { 'If-None-Match' => $a24 })->{status}, 304,
	'Alert24: If-None-Match 304');
error_is(call(PATCH => "/compat/statly/api/v1/incidents/inc_$i2", body => { title => 'x' },
	headers => { 'If-Match' => $v1 }), 412, 'precondition_failed_error', 'etag_mismatch',
	'Statly: /v1\'s ETag is not its representation\'s: 412');
is(call(PATCH => "/compat/statly/api/v1/incidents/inc_$i2", body => { title => 'y' },
	headers => { 'If-Match' => $st })->{status}, 200, 'Statly: its own ETag: 200');

for my $round (1 .. 8) {
	my $path = "/v1/tickets/$i2";
	my $etag = etag_of($path);
	my @bg = map { req_bg($s, PATCH => $path, key => $W, body => { title => "round $round writer $_" },
		headers => { 'If-Match' => $etag, 'X-Test-Now' => $T }) } 1 .. 2;
	my @status = map { finish_bg($_)->{status} // 'none' } @bg;
	is_deeply([sort @status], [200, 412], "round $round: two PATCHes with one ETag: one 200, one 412");
}

$s->finish;
done_testing;
