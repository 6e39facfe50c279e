# The harness itself: a whole private stack comes up, nginx answers for
# incidentd and with its own JSON error envelopes, and finish finds the logs
# clean. When this file fails, look here before at any other test.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IncidentdTest;
use Test::More;

my $s = IncidentdTest->new(workers => 2);

like $s->url, qr{^http://127\.0\.0\.1:\d+$}, 'url is on loopback';
like $s->org_id, qr/^\d+$/, 'org id is a number';
my %keys = map { $_ => $s->key($_) } qw(admin write read);
is scalar(keys %{ { reverse %keys } }), 3, 'three distinct keys';

# Checks the DESIGN §3 envelope and that request_id matches X-Request-Id.
sub envelope_ok {
	my ($r, $status, $type, $code, $name) = @_;
	subtest $name => sub {
		is $r->{status}, $status, "status $status";
		like $r->{headers}{'content-type'}, qr{^application/json}, 'JSON';
		my $id = $r->{headers}{'x-request-id'};
		ok $id, 'X-Request-Id header';
		is $r->{json}{type}, $type, "type $type";
		is $r->{json}{status}, $status, 'status in body';
		is $r->{json}{request_id}, $id, 'request_id equals X-Request-Id';
		is $r->{json}{errors}[0]{code}, $code, "code $code";
	};
}

my $r = $s->req(GET => '/healthz');
is $r->{status}, 200, '/healthz answers 200 through nginx';
is $r->{json}{status}, 'ok', 'healthz says ok';
ok $r->{headers}{'x-request-id'}, 'healthz carries X-Request-Id';

envelope_ok($s->req(GET => '/no/such/path'), 404, 'not_found_error', 'not_found',
	'unknown path: 404 envelope from nginx');

# 70 KiB is over client_max_body_size (64 KiB).
envelope_ok($s->req(POST => '/v1/tickets', key => $s->key('write'), body => 'x' x (70 * 1024)),
	413, 'invalid_request_error', 'body_too_large', 'oversized body: 413 envelope from nginx');

# nginx passes incidentd's own errors through: its 401, with the request id
# nginx assigned (REQUEST_ID reaches incidentd).
envelope_ok($s->req(GET => '/v1/tickets'), 401, 'authentication_error',
	'missing_authorization_material', 'no key: 401 envelope from incidentd');

my ($code, $out) = $s->incidentctl('org', 'list');
is $code, 0, 'incidentctl org list';
like $out, qr/^\Q${\ $s->org_id }\E\t\Q${\ $s->org_name }\E\t-$/m, 'lists the test org (no display name: -)';

is $s->psql('SELECT 1'), "1\n", 'psql reaches the test database';

my @workers = $s->worker_pids;
is scalar @workers, 2, 'two workers';
my $killed = $s->kill_worker;
ok !(grep { $_ == $killed } $s->worker_pids), 'killed worker replaced';
is $s->req(GET => '/healthz')->{status}, 200, 'still serving after a worker was killed';

# incidentd-sse: started by the master, reached through nginx, replaced
# when killed (which finish does not count as a crash).
like $s->sse_listen, qr{^unix:/}, 'incidentd-sse listens on a unix socket';
ok -S $s->sse_socket, 'sse_socket is one';
my $sse = $s->sse_pid // 0;
ok $sse, "the master runs incidentd-sse ($sse)";
ok !(grep { $_ == $sse } $s->worker_pids), 'which is not a worker';
my $c = $s->stream('/v1/incidents/stream', key => $s->key('read'));
is $c->{status}, 200, 'a stream through nginx';
is(($c->next_frame(5) || {})->{raw}, 'retry: 3000', 'its first frame');
$c->close;
is $s->kill_sse, $sse, 'kill_sse killed it';
ok $s->sse_pid && $s->sse_pid != $sse, 'and the master started another';
is $s->stream('/v1/incidents/stream', key => $s->key('read'))->{status}, 200, 'streams work again';

$s->stop_incidentd;
envelope_ok($s->req(GET => '/healthz'), 502, 'service_unavailable_error', 'bad_gateway',
	'incidentd down: 502 envelope from nginx');
$s->start_incidentd;
is $s->req(GET => '/healthz')->{status}, 200, 'serving again after a restart';

$s->finish;
done_testing;
